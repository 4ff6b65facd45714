// ferry_aead: ChaCha20-Poly1305 (RFC 8439) that seals into a buffer the caller gives and opens in place.
//
// Why it exists: node:crypto makes a new cipher object per record (the nonce changes each time) and returns every
// update() as a fresh buffer. At the exit's rates (hundreds of MB a second) those buffers cost more than the cipher:
// they fill V8's external-memory budget, and each overflow is a full mark-compact of the heap. Here one OpenSSL
// context per key is reused for every record, and no output buffer is ever allocated.
//
// It links against the OpenSSL inside the node binary (the symbols Node exports for addons), so it uses exactly the
// cipher node:crypto uses. protocol/adapters/native-aead.ts loads it; without it, the Node edges use node:crypto.
#include <node_api.h>
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

napi_value Throw(napi_env env, const char* message) {
  napi_throw_type_error(env, "FERRY_ERR_NATIVE_AEAD", message);
  return nullptr;
}

bool Bytes(napi_env env, napi_value value, uint8_t** data, size_t* length) {
  bool is_typed_array = false;
  if (napi_is_typedarray(env, value, &is_typed_array) != napi_ok || !is_typed_array) return false;
  napi_typedarray_type type;
  void* raw = nullptr;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_uint8_array) return false;
  *data = static_cast<uint8_t*>(raw);
  return true;
}

void FreeContext(napi_env, void* data, void*) { EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(data)); }

EVP_CIPHER_CTX* Context(napi_env env, napi_value value) {
  void* data = nullptr;
  if (napi_get_value_external(env, value, &data) != napi_ok) return nullptr;
  return static_cast<EVP_CIPHER_CTX*>(data);
}

// newContext(key: Uint8Array(32), encrypt: boolean): External
napi_value NewContext(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  uint8_t* key = nullptr;
  size_t key_length = 0;
  bool encrypt = false;
  if (argc != 2 || !Bytes(env, argv[0], &key, &key_length) || key_length != kKeyBytes ||
      napi_get_value_bool(env, argv[1], &encrypt) != napi_ok) {
    return Throw(env, "newContext(key, encrypt) takes a 32-byte Uint8Array key and a boolean");
  }
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr || EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), nullptr, key, nullptr, encrypt ? 1 : 0) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return Throw(env, "OpenSSL could not set up ChaCha20-Poly1305");
  }
  napi_value external;
  if (napi_create_external(env, ctx, FreeContext, nullptr, &external) != napi_ok) {
    EVP_CIPHER_CTX_free(ctx);
    return Throw(env, "could not wrap the cipher context");
  }
  return external;
}

bool Start(EVP_CIPHER_CTX* ctx, const uint8_t* nonce, const uint8_t* aad, size_t aad_length) {
  int written = 0;
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce, -1) != 1) return false;
  return aad_length == 0 || EVP_CipherUpdate(ctx, nullptr, &written, aad, static_cast<int>(aad_length)) == 1;
}

// seal(context, nonce, aad, out, offset, pieces: Uint8Array[]): number
// Encrypts the pieces, as if concatenated, into out[offset...] and puts the tag after them; returns the end offset.
napi_value Seal(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  EVP_CIPHER_CTX* ctx = argc == 6 ? Context(env, argv[0]) : nullptr;
  uint8_t *nonce = nullptr, *aad = nullptr, *out = nullptr;
  size_t nonce_length = 0, aad_length = 0, out_length = 0;
  uint32_t offset = 0, count = 0;
  bool is_array = false;
  if (ctx == nullptr || !Bytes(env, argv[1], &nonce, &nonce_length) || nonce_length != kNonceBytes ||
      !Bytes(env, argv[2], &aad, &aad_length) || !Bytes(env, argv[3], &out, &out_length) ||
      napi_get_value_uint32(env, argv[4], &offset) != napi_ok || napi_is_array(env, argv[5], &is_array) != napi_ok ||
      !is_array || napi_get_array_length(env, argv[5], &count) != napi_ok) {
    return Throw(env, "seal(context, nonce, aad, out, offset, pieces) got an argument of the wrong kind");
  }
  if (!Start(ctx, nonce, aad, aad_length)) return Throw(env, "OpenSSL refused the nonce or associated data");
  size_t at = offset;
  for (uint32_t index = 0; index < count; index++) {
    napi_value element;
    uint8_t* piece = nullptr;
    size_t piece_length = 0;
    if (napi_get_element(env, argv[5], index, &element) != napi_ok || !Bytes(env, element, &piece, &piece_length)) {
      return Throw(env, "seal: every piece must be a Uint8Array");
    }
    if (at > out_length || piece_length > out_length - at) return Throw(env, "seal: the output is too small for the plaintext");
    int written = 0;
    if (piece_length > 0 && EVP_CipherUpdate(ctx, out + at, &written, piece, static_cast<int>(piece_length)) != 1) {
      return Throw(env, "OpenSSL failed to encrypt");
    }
    at += static_cast<size_t>(written);
  }
  int written = 0;
  if (at > out_length || out_length - at < kTagBytes) return Throw(env, "seal: the output has no room for the tag");
  if (EVP_CipherFinal_ex(ctx, out + at, &written) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, out + at + written) != 1) {
    return Throw(env, "OpenSSL failed to finish the record");
  }
  at += static_cast<size_t>(written) + kTagBytes;
  napi_value result;
  napi_create_uint32(env, static_cast<uint32_t>(at), &result);
  return result;
}

// openInPlace(context, nonce, aad, sealed): boolean
// sealed = ciphertext ‖ tag. Decrypts the ciphertext over itself; true if the tag is right. On false the bytes are
// garbage (decrypted but not authentic) and must not be read.
napi_value OpenInPlace(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  EVP_CIPHER_CTX* ctx = argc == 4 ? Context(env, argv[0]) : nullptr;
  uint8_t *nonce = nullptr, *aad = nullptr, *sealed = nullptr;
  size_t nonce_length = 0, aad_length = 0, sealed_length = 0;
  if (ctx == nullptr || !Bytes(env, argv[1], &nonce, &nonce_length) || nonce_length != kNonceBytes ||
      !Bytes(env, argv[2], &aad, &aad_length) || !Bytes(env, argv[3], &sealed, &sealed_length) || sealed_length < kTagBytes) {
    return Throw(env, "openInPlace(context, nonce, aad, sealed) got an argument of the wrong kind");
  }
  size_t body_length = sealed_length - kTagBytes;
  bool authentic = Start(ctx, nonce, aad, aad_length);
  int written = 0;
  if (authentic && body_length > 0) authentic = EVP_CipherUpdate(ctx, sealed, &written, sealed, static_cast<int>(body_length)) == 1;
  if (authentic) authentic = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes, sealed + body_length) == 1;
  if (authentic) authentic = EVP_CipherFinal_ex(ctx, sealed + written, &written) == 1;
  napi_value result;
  napi_get_boolean(env, authentic, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"newContext", nullptr, NewContext, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"seal", nullptr, Seal, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"openInPlace", nullptr, OpenInPlace, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
