"""The release directory that scripts/release builds: its manifest.json and
SHA256SUMS, written from the built artifacts and verified against them."""
