// drshym serve --port 8080 --input-root DIR --output-root DIR [--workers N --queue N ...]
#include <atomic>
#include <chrono>
#include <thread>

#include "cli/command.hpp"
#include "core/interrupt.hpp"
#include "core/log.hpp"
#include "serve/server.hpp"
#include "serve/service.hpp"

namespace drshym::cli {
namespace {

class ServeCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand(
        "serve",
        "The HTTP API (POST /v1/segment, POST /v1/jobs, GET /v1/jobs/{id}, GET /v1/models, GET /healthz,\n"
        "GET /openapi.json). Each request runs the same pipeline as `drshym segment` into a fresh folder\n"
        "under --output-root. Images are read only from under --input-root (file:// URIs or absolute paths)\n"
        "or from --allow-remote prefixes. SIGTERM or Ctrl-C: stop accepting, fail queued work, cancel running\n"
        "work (its outputs are removed), then exit 0.");
    sub->add_option("--host", srv_.host, "Address to listen on (0.0.0.0 for every interface)")->capture_default_str();
    sub->add_option("--port", srv_.port, "TCP port (0: any free port, printed at start)")
        ->capture_default_str()
        ->check(CLI::Range(0, 65535));
    sub->add_option("--input-root", svc_.input_roots, "Folder clients may read images from (repeatable)")
        ->required()
        ->check(CLI::ExistingDirectory);
    sub->add_option("--output-root", svc_.output_root, "Folder for outputs (one subfolder per request) and jobs.sqlite")
        ->required();
    sub->add_option("--allow-remote", svc_.allow_remote,
                    "http(s):// or s3:// prefix clients may read from (repeatable; none by default)");
    sub->add_option("--job-db", svc_.job_db, "SQLite job store (default: <output-root>/jobs.sqlite)");
    sub->add_option("--model", svc_.models,
                    "Checkpoint to serve (repeatable; default: the embedded models/default and models/default_vv)");
    sub->add_option("--workers", svc_.workers, "Scenes running at once")->capture_default_str()->check(CLI::Range(1, 256));
    sub->add_option("--queue", svc_.queue, "Scenes waiting at most; beyond that requests get 503 with Retry-After")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    sub->add_option("--threads", svc_.threads, "CPU threads shared by the workers (0 = available cores)")
        ->capture_default_str()
        ->check(non_negative());
    sub->add_option("--timeout", svc_.timeout_s, "Seconds a request may take, queue wait included (then 504)")
        ->capture_default_str()
        ->check(positive());
    sub->add_option("--max-body", max_body_kib_, "Largest request body in KiB (then 413)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    sub->add_option("--request-read-timeout", srv_.request_read_timeout_s,
                    "Seconds a client has to send a whole request (line, headers, body); slower ones are cut off")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 3600.0));
    sub->add_option("--max-connections", srv_.max_connections,
                    "Connections open at once (served or waiting); more are answered 503 and closed")
        ->capture_default_str()
        ->check(CLI::Range(8, 100000));
    sub->add_option("--keep-jobs-days", svc_.keep_jobs_days,
                    "Remove finished jobs and request folders older than this many days (0: keep everything)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 36500.0));
    sub->add_option("--min-free-mb", svc_.min_free_mb,
                    "Refuse new requests (507) while the output disk has less free space than this, in MiB")
        ->capture_default_str();
    sub->add_option("--leaflet-dir", srv_.leaflet_dir,
                    "Folder with leaflet.js, leaflet.css and images/ for the map page (Debian's libjs-leaflet)")
        ->capture_default_str();
    sub->add_option("--tile-renders", srv_.tiles.renders,
                    "Map tiles rendered at once; at most 8 more requests wait, the rest get 503 (segmentation keeps its CPUs)")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    return sub;
  }

  int run() override {
    serve::Service service(svc_);
    srv_.max_body_bytes = size_t(max_body_kib_) * 1024;
    // One HTTP thread per scene running or waiting (a synchronous request holds its thread),
    // plus a few for /healthz and job polling; --workers <= 256 and --queue <= 1000 bound it.
    // The map tiles' render slots and waiting requests hold HTTP threads too: add them, so a
    // panning map cannot take the threads job submissions and polling need.
    srv_.http_threads = svc_.workers + svc_.queue + 8 + srv_.tiles.renders + srv_.tiles.waiting;
    serve::HttpServer server(service, srv_);
    const int port = server.bind();
    core::log().info("serve: listening on http://{}:{} (workers {}, queue {}, outputs under {}); map page: http://{}:{}/",
                     srv_.host, port, svc_.workers, svc_.queue, svc_.output_root, srv_.host, port);
    // SIGTERM/SIGINT only raise a flag (core/interrupt): this thread turns it into a shutdown.
    std::atomic<bool> done{false};
    std::thread watcher([&] {
      while (!done && !core::interrupted()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (done) return;
      core::log().info("serve: signal received: no new requests; queued work fails, running work is cancelled");
      server.stop();  // first stop accepting connections
      service.shutdown("the server is shutting down");
      // A signal during start-up can land before run() listens: stop again until it returns.
      while (!done) {
        server.stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    server.run();
    done = true;
    watcher.join();
    service.shutdown();
    core::log().info("serve: stopped");
    return 0;
  }

 private:
  serve::ServiceOptions svc_;
  serve::ServerOptions srv_;
  int max_body_kib_ = 1024;
};

}  // namespace

std::unique_ptr<Command> make_serve_command() { return std::make_unique<ServeCommand>(); }

}  // namespace drshym::cli
