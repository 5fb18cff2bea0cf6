// fuzz_age.cpp: libFuzzer harness for age decryption (src/core/crypto/
// age.cpp): the header parser and the STREAM payload reader, which read every
// encrypted object a verify or restore fetches from a storage.
//
// Every input is used three ways:
//   - as an age file, decrypted in pieces with the identities of the C2SP
//     test vectors (the seeds), and again with their passphrase (scrypt
//     capped at work factor 10, so that a forged header cannot make a run
//     slow): decryption succeeds and finishes the next stage, or throws a
//     kCorrupt or kInvalidParameter Error, nothing else, and does not;
//   - as the recipe of a tampered file: a plaintext of a size chosen around
//     the 64 KiB chunk boundaries is encrypted to one of those identities,
//     then one byte is flipped, the file cut or bytes appended, at a place
//     the input chooses. Decrypting the untouched file gives the plaintext
//     back; decrypting a tampered one throws kCorrupt, and whatever reached
//     the next stage before that is a prefix of the plaintext.
// The encryption uses fresh random keys, so the tampered files differ from
// run to run; the properties do not.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/crypto/age.h"
#include "fuzz_util.h"

namespace pgbak {
namespace {

using fuzz::Check;

constexpr size_t kChunk = 64 * 1024;

// The identities and passphrase of test/unit/crypto/data/age/.
const char* const kIdentities[] = {
    "AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F6",
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0",
    "AGE-SECRET-KEY-143WN7DCXU4G8R5AXQSSYD9AEPYDNT3HXSLWSPK36CDU6E8M59SSSAGZ3KG",
};
constexpr char kPassphrase[] = "password";
constexpr int kMaxWorkFactor = 10;

const std::vector<AgeIdentity>& Identities() {
  static const std::vector<AgeIdentity> identities = [] {
    std::vector<AgeIdentity> parsed;
    for (const char* text : kIdentities) {
      parsed.push_back(AgeIdentity::Parse(text));
    }
    return parsed;
  }();
  return identities;
}

// Outcome is what one decryption did.
struct Outcome {
  bool ok = false;
  ErrorKind kind = ErrorKind::kInternal;
  std::string plaintext;  // what reached the next stage, even on error
};

Outcome Decrypt(std::string_view file, bool with_passphrase, uint64_t pattern) {
  Outcome outcome;
  StringSink plain;
  std::unique_ptr<AgeDecryptSink> decrypt =
      with_passphrase ? std::make_unique<AgeDecryptSink>(plain, kPassphrase, kMaxWorkFactor)
                      : std::make_unique<AgeDecryptSink>(plain, Identities());
  try {
    fuzz::WriteInPieces(*decrypt, file, pattern);
    decrypt->Finish();
    outcome.ok = true;
    Check(plain.finished(), "decryption succeeded without finishing the next stage");
  } catch (const Error& error) {
    outcome.kind = error.kind();
    Check(error.kind() == ErrorKind::kCorrupt || error.kind() == ErrorKind::kInvalidParameter,
          std::string("decryption threw an Error of another kind: ") + error.what());
    Check(!plain.finished(), "decryption failed after finishing the next stage");
  }
  outcome.plaintext = plain.contents();
  return outcome;
}

// CheckTampered encrypts a plaintext, tampers with the file as the input
// says, and checks what decryption makes of it.
void CheckTampered(FuzzedDataProvider& input) {
  size_t size = 0;
  switch (input.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      size = input.ConsumeIntegralInRange<size_t>(0, 64);
      break;
    case 1:
      size = kChunk + input.ConsumeIntegralInRange<size_t>(0, 2) - 1;
      break;
    case 2:
      size = 2 * kChunk + input.ConsumeIntegralInRange<size_t>(0, 2) - 1;
      break;
    default:
      size = input.ConsumeIntegralInRange<size_t>(0, 3 * kChunk);
      break;
  }
  int mode = input.ConsumeIntegralInRange<int>(0, 3);  // untouched, flip, cut, append
  uint64_t where = input.ConsumeIntegral<uint64_t>();
  uint8_t mask = input.ConsumeIntegralInRange<uint8_t>(1, 255);
  uint64_t pattern = input.ConsumeIntegral<uint64_t>();
  std::string seed = input.ConsumeRemainingBytesAsString();
  std::string plaintext(size, 'x');
  for (size_t i = 0; i < size && !seed.empty(); i++) {
    plaintext[i] = seed[i % seed.size()];
  }

  StringSink file;
  AgeEncryptSink encrypt(file, {Identities()[where % 3].Recipient()});
  WriteString(encrypt, plaintext);
  encrypt.Finish();
  std::string tampered = file.contents();
  switch (mode) {
    case 1:
      tampered[where % tampered.size()] =
          static_cast<char>(tampered[where % tampered.size()] ^ mask);
      break;
    case 2:
      tampered.resize(where % tampered.size());
      break;
    case 3:
      tampered.append(1 + where % 70000, static_cast<char>(mask));
      break;
    default:
      break;
  }
  Outcome outcome = Decrypt(tampered, false, pattern);
  if (mode == 0) {
    Check(outcome.ok && outcome.plaintext == plaintext, "an untouched file does not decrypt");
    return;
  }
  Check(!outcome.ok, "a tampered file decrypts (mode " + std::to_string(mode) + ")");
  Check(outcome.kind == ErrorKind::kCorrupt || outcome.kind == ErrorKind::kInvalidParameter,
        "a tampered file fails with an unexpected kind of error");
  Check(plaintext.compare(0, outcome.plaintext.size(), outcome.plaintext) == 0,
        "a tampered file passed on bytes that are not the plaintext");
}

}  // namespace
}  // namespace pgbak

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgbak;
  std::string_view file(reinterpret_cast<const char*>(data), size);
  uint64_t pattern = fuzz::PatternOf(file);
  Decrypt(file, false, pattern);
  Decrypt(file, true, pattern >> 5);
  FuzzedDataProvider input(data, size);
  CheckTampered(input);
  return 0;
}
