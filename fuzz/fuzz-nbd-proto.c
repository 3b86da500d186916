/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the NBD server's parsers: the input is what a client
 * sends — 4 flag bytes, options (header + payload) until one enters
 * transmission, then request headers with their payloads.  The same code
 * the server runs on its sockets runs here on the buffer.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "exports/nbd-proto.h"

static bool fuzz_lookup(void *opaque, const char *name, NbdExportInfo *ret)
{
    if (strcmp(name, "disk0") != 0 && name[0] != '\0')
        return false;
    *ret = (NbdExportInfo){ .name = "disk0", .description = "fuzz", .size = 1 << 20,
                            .writable = name[0] != '\0' };
    return true;
}

static void fuzz_list(void *opaque, void (*add)(const char *, const char *, void *), void *ctx)
{
    add("disk0", "fuzz", ctx);
}

static const NbdNegotiationOps fuzz_ops = { fuzz_lookup, fuzz_list };

static void fuzz_requests(const NbdNegotiation *neg, const uint8_t *data, size_t size)
{
    NbdRequestLimits lim = { .size = neg->info.size, .writable = neg->info.writable,
                             .structured = neg->structured,
                             .meta_base_allocation = neg->meta_base_allocation };
    while (size >= NBD_REQUEST_SIZE) {
        NbdRequest req;
        if (!nbd_request_decode(data, &req))
            return;     /* the server disconnects */
        data += NBD_REQUEST_SIZE;
        size -= NBD_REQUEST_SIZE;
        uint32_t payload;
        (void)nbd_request_check(&req, &lim, &payload);
        if (payload > size || req.type == NBD_CMD_DISC)
            return;
        data += payload;
        size -= payload;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &fuzz_ops, NULL);
    neg.tls_required = size & 1;    /* half the inputs meet an address that requires TLS */
    nbd_negotiation_greeting(&neg);
    if (size < 4 || !nbd_negotiation_client_flags(&neg, data))
        goto out;
    data += 4;
    size -= 4;
    NbdNegResult res = NBD_NEG_CONTINUE;
    while (res == NBD_NEG_CONTINUE && size >= 16) {
        uint32_t opt, len;
        if (!nbd_option_header_parse(data, &opt, &len) || len > size - 16)
            goto out;
        res = nbd_negotiation_option(&neg, opt, data + 16, len);
        if (res == NBD_NEG_STARTTLS) {
            neg.tls_active = true;  /* as if the handshake succeeded */
            res = NBD_NEG_CONTINUE;
        }
        data += 16 + len;
        size -= 16 + len;
        g_byte_array_set_size(neg.out, 0);
    }
    if (res == NBD_NEG_TRANSMIT)
        fuzz_requests(&neg, data, size);
out:
    nbd_negotiation_clear(&neg);
    return 0;
}
