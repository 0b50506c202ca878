# DrShym Climate HTTP service: `docker compose up --build`, or
#   docker build -t drshym . && docker run -p 8080:8080 -v $PWD/scenes:/data/scenes:ro -v $PWD/outputs:/data/outputs drshym
# Debian 12 and the project's own install script, so the image has exactly what CI has (that list
# includes the run-time pieces too: libcairo2 via libcairo2-dev, and fonts-dejavu-core for figure text).
FROM debian:12
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /opt/drshym
COPY scripts/install_deps.sh scripts/install_deps.sh
RUN bash scripts/install_deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The tests and benchmarks are CI's job; the image needs only the binary and the embedded models
# (found in the source tree the binary was built from).
RUN CMAKE_ARGS="-DDRSHYM_BUILD_TESTS=OFF -DDRSHYM_BUILD_BENCH=OFF" bash scripts/build.sh --target drshym \
    && mkdir -p /data/scenes /data/outputs
EXPOSE 8080
# Non-root at run time; outputs and the job store live on the /data/outputs volume.
RUN useradd --system --uid 10001 drshym && chown drshym /data/outputs
USER drshym
ENTRYPOINT ["/opt/drshym/build/bin/drshym"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--input-root", "/data/scenes", "--output-root", "/data/outputs", "--workers", "1", "--queue", "8"]
