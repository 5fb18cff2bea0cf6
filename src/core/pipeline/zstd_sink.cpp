// zstd_sink.cpp: streaming zstd compression and decompression stages.
//
// Both directions use libzstd's streaming API with one fixed-size output
// buffer, so memory does not grow with the stream. Compression may run
// libzstd worker threads; every call that can create them runs with all
// signals blocked, because new threads inherit the creating thread's mask and
// PostgreSQL's signal handlers must only ever run on the main thread.
#include "core/pipeline/zstd_sink.h"

#include <pthread.h>
#include <signal.h>
#include <zstd.h>

#include <string>

#include "core/base/error.h"
#include "core/base/signals_blocked.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kJobSize is the input size of one multithreaded compression job.
constexpr int kJobSize = 8 << 20;

struct ZstdCCtxDeleter {
  void operator()(ZSTD_CCtx* ctx) const { ZSTD_freeCCtx(ctx); }
};

struct ZstdDCtxDeleter {
  void operator()(ZSTD_DCtx* ctx) const { ZSTD_freeDCtx(ctx); }
};

// CheckCompress throws if a libzstd compression call failed.
size_t CheckCompress(size_t result, const char* what) {
  if (ZSTD_isError(result)) {
    throw Error(ErrorKind::kInternal,
                std::string("zstd compression failed: ") + what + ": " + ZSTD_getErrorName(result));
  }
  return result;
}

}  // namespace

struct ZstdCompressSink::State {
  std::unique_ptr<ZSTD_CCtx, ZstdCCtxDeleter> ctx;
  std::vector<uint8_t> output;
  bool finished = false;
  std::function<void()> interrupt_check;
};

// ZstdCompressSink sets up one compression context with the given level and
// number of worker threads; the threads themselves start on the first Write.
ZstdCompressSink::ZstdCompressSink(Sink& next, int level, int threads)
    : state_(std::make_unique<State>()), next_(next) {
  state_->ctx.reset(ZSTD_createCCtx());
  if (!state_->ctx) {
    throw Error(ErrorKind::kInternal, "could not create zstd compression context");
  }
  ZSTD_CCtx* ctx = state_->ctx.get();
  CheckCompress(ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level), "level");
  // The frame checksum lets "zstd -d" and our decompressor detect corruption
  // of the stored object on their own.
  CheckCompress(ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1), "checksum");
  if (threads > 0) {
    CheckCompress(ZSTD_CCtx_setParameter(ctx, ZSTD_c_nbWorkers, threads), "workers");
    // A fixed job size bounds memory and the time a cancel waits for a
    // running job, whatever the level (libzstd's default grows with the
    // window: 32 MiB per job at level 19).
    CheckCompress(ZSTD_CCtx_setParameter(ctx, ZSTD_c_jobSize, kJobSize), "job size");
  }
  state_->output.resize(ZSTD_CStreamOutSize());
}

ZstdCompressSink::~ZstdCompressSink() {
  // Freeing joins the worker threads; block signals for symmetry with their
  // creation so nothing runs a handler half-way through the teardown.
  AllSignalsBlocked blocked;
  state_->ctx.reset();
}

// Write compresses size bytes, passing compressed output on whenever the
// output buffer has something in it.
void ZstdCompressSink::Write(const uint8_t* data, size_t size) {
  if (state_->finished) {
    throw Error(ErrorKind::kInternal, "write to a finished zstd compression stage");
  }
  ZSTD_inBuffer input = {data, size, 0};
  while (input.pos < input.size) {
    ZSTD_outBuffer output = {state_->output.data(), state_->output.size(), 0};
    {
      AllSignalsBlocked blocked;
      CheckCompress(ZSTD_compressStream2(state_->ctx.get(), &output, &input, ZSTD_e_continue),
                    "compress");
    }
    if (output.pos > 0) {
      next_.Write(state_->output.data(), output.pos);
    }
    if (state_->interrupt_check) {
      state_->interrupt_check();
    }
  }
}

// SetInterruptCheck installs the callable run between compression steps.
void ZstdCompressSink::SetInterruptCheck(std::function<void()> check) {
  state_->interrupt_check = std::move(check);
}

// Finish ends the frame, flushes everything libzstd still holds and then
// finishes the next stage.
void ZstdCompressSink::Finish() {
  if (state_->finished) {
    throw Error(ErrorKind::kInternal, "zstd compression stage finished twice");
  }
  ZSTD_inBuffer input = {nullptr, 0, 0};
  size_t remaining = 0;
  do {
    ZSTD_outBuffer output = {state_->output.data(), state_->output.size(), 0};
    {
      AllSignalsBlocked blocked;
      remaining = CheckCompress(
          ZSTD_compressStream2(state_->ctx.get(), &output, &input, ZSTD_e_end), "end");
    }
    if (output.pos > 0) {
      next_.Write(state_->output.data(), output.pos);
    }
    if (remaining != 0 && state_->interrupt_check) {
      state_->interrupt_check();
    }
  } while (remaining != 0);
  state_->finished = true;
  next_.Finish();
}

struct ZstdDecompressSink::State {
  std::unique_ptr<ZSTD_DCtx, ZstdDCtxDeleter> ctx;
  std::vector<uint8_t> output;
  // last_result is ZSTD_decompressStream's hint: 0 once a frame is complete
  // and fully flushed, so Finish can tell a whole stream from a cut one.
  size_t last_result = 0;
  bool saw_input = false;
  bool finished = false;
};

ZstdDecompressSink::ZstdDecompressSink(Sink& next)
    : state_(std::make_unique<State>()), next_(next) {
  state_->ctx.reset(ZSTD_createDCtx());
  if (!state_->ctx) {
    throw Error(ErrorKind::kInternal, "could not create zstd decompression context");
  }
  state_->output.resize(ZSTD_DStreamOutSize());
}

ZstdDecompressSink::~ZstdDecompressSink() = default;

// Write decompresses size bytes; it keeps calling libzstd while the output
// buffer comes back full, because data may still be held inside libzstd.
void ZstdDecompressSink::Write(const uint8_t* data, size_t size) {
  if (state_->finished) {
    throw Error(ErrorKind::kInternal, "write to a finished zstd decompression stage");
  }
  if (size == 0) {
    return;
  }
  state_->saw_input = true;
  ZSTD_inBuffer input = {data, size, 0};
  bool output_full = false;
  while (input.pos < input.size || output_full) {
    ZSTD_outBuffer output = {state_->output.data(), state_->output.size(), 0};
    size_t consumed_before = input.pos;
    size_t result = ZSTD_decompressStream(state_->ctx.get(), &output, &input);
    if (ZSTD_isError(result)) {
      throw Error(ErrorKind::kCorrupt, "could not decompress zstd stream",
                  ZSTD_getErrorName(result));
    }
    if (input.pos == consumed_before && output.pos == 0) {
      if (input.pos < input.size) {
        throw Error(ErrorKind::kInternal, "zstd decompression made no progress");
      }
      // Nothing was pending after all; after a complete frame libzstd would
      // now report the header size of a next frame, which is not a cut.
      break;
    }
    state_->last_result = result;
    output_full = output.pos == output.size;
    if (output.pos > 0) {
      next_.Write(state_->output.data(), output.pos);
    }
  }
}

// Finish checks that the input ended on a frame boundary, then finishes next.
void ZstdDecompressSink::Finish() {
  if (state_->finished) {
    throw Error(ErrorKind::kInternal, "zstd decompression stage finished twice");
  }
  if (!state_->saw_input) {
    throw Error(ErrorKind::kCorrupt, "zstd stream is empty");
  }
  if (state_->last_result != 0) {
    throw Error(ErrorKind::kCorrupt, "zstd stream ended in the middle of a frame",
                "The object is truncated.");
  }
  state_->finished = true;
  next_.Finish();
}

}  // namespace pgbak
