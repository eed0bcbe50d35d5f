"""Proof that each check catches what it is for, on small made-up
repositories; and that what Docker ignores itself is not flagged."""

from .checks import problems

TRACKED = ["Cargo.toml", "Cargo.lock", "app/Cargo.toml", "app/src/main.rs",
           "scripts/build", "config/a.json", "config/b.json", "README.md"]
CARGO = ["Cargo.toml", "Cargo.lock", "app/Cargo.toml"]
GOOD = """# syntax=docker/dockerfile:1
FROM rust AS build
WORKDIR /src
COPY . .
ARG CONF=config
RUN --mount=type=cache,target=/src/target \\
    scripts/build \\
    # a comment inside the continuation
    && cp target/release/app /out/
FROM debian
COPY --from=build /out/app /usr/local/bin/app
COPY ["config/a.json", "/etc/app/"]
COPY $CONF/*.json /etc/app/
ADD https://example.org/x.tar.gz /x
"""
IGNORE = "target/\n.git\nREADME.md\n"

# (name, Dockerfile, .dockerignore, a fragment the problem must contain or None)
CASES = [
    ("the good one passes", GOOD, IGNORE, None),
    ("a missing COPY source", GOOD + "COPY docs/ /usr/share/doc/\n", IGNORE, "COPY docs"),
    ("a missing file in JSON form", GOOD.replace('"config/a.json"', '"config/c.json"'), IGNORE, "config/c.json"),
    ("a glob matching nothing", GOOD.replace("*.json", "*.yaml"), IGNORE, "config/*.yaml"),
    ("a COPY source the .dockerignore excludes", GOOD, IGNORE + "config/a.json\n", "config/a.json"),
    ("a parent directory excluded", GOOD, IGNORE + "conf*\n", "conf*"),
    ("a re-included file passes", GOOD, IGNORE + "config\n!config/*.json\n", None),
    ("a RUN script missing", GOOD.replace("scripts/build", "scripts/build-all"), IGNORE, "scripts/build-all"),
    ("a RUN script excluded", GOOD, IGNORE + "scripts\n", "scripts/build"),
    ("a workspace member excluded", GOOD, IGNORE + "app/\n", "app/Cargo.toml"),
    ("the lock file excluded by a ** pattern", GOOD, IGNORE + "**/*.lock\n", "Cargo.lock"),
    ("a build arg without default", GOOD + "ARG X\nCOPY $X /x\n", IGNORE, "build arg"),
]


def run():
    failed = 0
    for name, text, ignore, expected in CASES:
        found = problems(text, ignore, TRACKED, CARGO)
        ok = (not found) if expected is None else any(expected in p for p in found)
        if not ok:
            failed += 1
            print(f"check-dockerfile self-test: FAILED: {name}: expected "
                  f"{'no problem' if expected is None else repr(expected)}, got {found}")
    print(f"check-dockerfile self-test: {len(CASES) - failed} passed, {failed} failed")
    return 1 if failed else 0
