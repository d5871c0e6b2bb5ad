# syntax=docker/dockerfile:1
# statusgate container image: build with `docker build -t statusgate .` from the repository root.

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole tree (minus .dockerignore): templates may be embedded at compile time.
COPY . .
RUN cargo build --release --locked \
 && install -D -m 0755 target/release/statusgate /out/usr/local/bin/statusgate \
 && mkdir -p /out/usr/share/statusgate \
 && cp -r templates /out/usr/share/statusgate/templates \
 && cp -r mappings /out/usr/share/statusgate/mappings \
 && mkdir -p /out/usr/share/statusgate/data

# glibc and libgcc only, no shell; runs as uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/statusgate /usr/local/bin/statusgate
COPY --from=build /out/usr/share/statusgate/templates /usr/share/statusgate/templates
COPY --from=build /out/usr/share/statusgate/mappings /usr/share/statusgate/mappings
# Without a config file the relative defaults (./templates, ./mappings, ./data) resolve here,
# so `docker run -p 8080:8080 statusgate` works; ./data is the one writable directory.
COPY --from=build --chown=65532:65532 /out/usr/share/statusgate/data /usr/share/statusgate/data
WORKDIR /usr/share/statusgate
# Only the listen address is set here: STATUSGATE_* variables override the config file, so setting
# paths here would silently override the paths a deployment's config gives.
ENV STATUSGATE_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/usr/local/bin/statusgate"]
CMD ["serve"]
