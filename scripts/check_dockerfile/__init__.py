"""Checks that the Dockerfile's build context holds what the build needs:
every COPY/ADD source, every repository file a RUN names, and the cargo
workspace, each present in git and not excluded by .dockerignore."""
