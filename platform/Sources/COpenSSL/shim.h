#ifndef FIREZONE_COPENSSL_SHIM_H
#define FIREZONE_COPENSSL_SHIM_H
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/sha.h>
#include <strings.h>

// An AEAD cipher's implementation as its provider offers it (provider-cipher(7)), called without the EVP layer.
//
// Per packet the EVP layer costs more than the cipher leaves room for: OpenSSL 3.0's EVP_CipherInit_ex2 asks the
// provider for the IV length through a parameter query on every call, and EVP_CIPHER_CTX_ctrl translates each
// control into parameters. Called directly, a packet costs one init with the nonce, one update, one final and one
// parameter for the tag: the calls EVP makes underneath, in the same order.
typedef struct fz_aead_functions {
    // The fetched cipher the functions belong to: held (never freed) so that its provider stays loaded.
    const EVP_CIPHER *cipher;
    void *provider_context;
    OSSL_FUNC_cipher_newctx_fn *newctx;
    OSSL_FUNC_cipher_freectx_fn *freectx;
    OSSL_FUNC_cipher_encrypt_init_fn *encrypt_init;
    OSSL_FUNC_cipher_decrypt_init_fn *decrypt_init;
    OSSL_FUNC_cipher_update_fn *update;
    OSSL_FUNC_cipher_final_fn *final;
    OSSL_FUNC_cipher_get_ctx_params_fn *get_ctx_params;
    OSSL_FUNC_cipher_set_ctx_params_fn *set_ctx_params;
} fz_aead_functions;

// Whether `names` (an OSSL_ALGORITHM's colon-separated list) holds `name`, ignoring case as OpenSSL's names do.
static inline int fz_algorithm_names_contain(const char *names, const char *name) {
    size_t length = strlen(name);
    for (const char *at = names; *at != '\0';) {
        const char *end = strchr(at, ':');
        size_t token = end != NULL ? (size_t)(end - at) : strlen(at);
        if (token == length && strncasecmp(at, name, length) == 0) {
            return 1;
        }
        if (end == NULL) {
            break;
        }
        at = end + 1;
    }
    return 0;
}

// Fills `functions` with the implementation of `cipher` (fetched, so its provider stays loaded while it lives) from
// the provider that offers it. Returns 1, or 0 when the provider does not list it or lacks a function.
static inline int fz_aead_functions_load(const EVP_CIPHER *cipher, fz_aead_functions *functions) {
    const OSSL_PROVIDER *provider = EVP_CIPHER_get0_provider(cipher);
    const char *name = EVP_CIPHER_get0_name(cipher);
    if (provider == NULL || name == NULL) {
        return 0;
    }
    memset(functions, 0, sizeof(*functions));
    functions->cipher = cipher;
    int no_cache = 0;
    const OSSL_ALGORITHM *algorithms = OSSL_PROVIDER_query_operation(provider, OSSL_OP_CIPHER, &no_cache);
    for (const OSSL_ALGORITHM *algorithm = algorithms; algorithm != NULL && algorithm->algorithm_names != NULL;
         algorithm++) {
        if (!fz_algorithm_names_contain(algorithm->algorithm_names, name)) {
            continue;
        }
        for (const OSSL_DISPATCH *entry = algorithm->implementation; entry->function_id != 0; entry++) {
            switch (entry->function_id) {
            case OSSL_FUNC_CIPHER_NEWCTX:
                functions->newctx = OSSL_FUNC_cipher_newctx(entry);
                break;
            case OSSL_FUNC_CIPHER_FREECTX:
                functions->freectx = OSSL_FUNC_cipher_freectx(entry);
                break;
            case OSSL_FUNC_CIPHER_ENCRYPT_INIT:
                functions->encrypt_init = OSSL_FUNC_cipher_encrypt_init(entry);
                break;
            case OSSL_FUNC_CIPHER_DECRYPT_INIT:
                functions->decrypt_init = OSSL_FUNC_cipher_decrypt_init(entry);
                break;
            case OSSL_FUNC_CIPHER_UPDATE:
                functions->update = OSSL_FUNC_cipher_update(entry);
                break;
            case OSSL_FUNC_CIPHER_FINAL:
                functions->final = OSSL_FUNC_cipher_final(entry);
                break;
            case OSSL_FUNC_CIPHER_GET_CTX_PARAMS:
                functions->get_ctx_params = OSSL_FUNC_cipher_get_ctx_params(entry);
                break;
            case OSSL_FUNC_CIPHER_SET_CTX_PARAMS:
                functions->set_ctx_params = OSSL_FUNC_cipher_set_ctx_params(entry);
                break;
            default:
                break;
            }
        }
        break;
    }
    if (algorithms != NULL) {
        OSSL_PROVIDER_unquery_operation(provider, OSSL_OP_CIPHER, algorithms);
    }
    functions->provider_context = OSSL_PROVIDER_get0_provider_ctx(provider);
    return functions->newctx != NULL && functions->freectx != NULL && functions->encrypt_init != NULL &&
           functions->decrypt_init != NULL && functions->update != NULL && functions->final != NULL &&
           functions->get_ctx_params != NULL && functions->set_ctx_params != NULL;
}

// A new context keyed with the `key_length` bytes at `key`, or NULL.
static inline void *fz_aead_new_context(const fz_aead_functions *functions, const unsigned char *key,
                                        size_t key_length) {
    void *context = functions->newctx(functions->provider_context);
    if (context != NULL && functions->encrypt_init(context, key, key_length, NULL, 0, NULL) != 1) {
        functions->freectx(context);
        return NULL;
    }
    return context;
}

// Encrypts `length` bytes at `data` in place under `nonce` (nonce_length bytes) and writes the 16-byte tag to `tag`.
// Returns 1, or 0 on an error of the implementation.
static inline int fz_aead_seal(const fz_aead_functions *functions, void *context, const unsigned char *nonce,
                               size_t nonce_length, unsigned char *data, size_t length, unsigned char *tag) {
    size_t written = 0;
    unsigned char unused[16];
    OSSL_PARAM tag_parameter[2] = {
        OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16),
        OSSL_PARAM_END,
    };
    return functions->encrypt_init(context, NULL, 0, nonce, nonce_length, NULL) == 1 &&
           (length == 0 || functions->update(context, data, &written, length, data, length) == 1) &&
           functions->final(context, unused, &written, sizeof(unused)) == 1 &&
           functions->get_ctx_params(context, tag_parameter) == 1;
}

// Decrypts `length` bytes at `data` in place under `nonce` if they and the 16-byte `tag` authenticate. Returns 1, or
// 0 when they do not (then `data` holds garbage) or on an error of the implementation.
static inline int fz_aead_open(const fz_aead_functions *functions, void *context, const unsigned char *nonce,
                               size_t nonce_length, unsigned char *data, size_t length, const unsigned char *tag) {
    size_t written = 0;
    unsigned char unused[16];
    OSSL_PARAM tag_parameter[2] = {
        OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)tag, 16),
        OSSL_PARAM_END,
    };
    return functions->decrypt_init(context, NULL, 0, nonce, nonce_length, NULL) == 1 &&
           functions->set_ctx_params(context, tag_parameter) == 1 &&
           (length == 0 || functions->update(context, data, &written, length, data, length) == 1) &&
           functions->final(context, unused, &written, sizeof(unused)) == 1;
}
#endif
