/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ExportSpec: freeing it, naming its server, and adding the export it describes. */

#include <errno.h>
#include <string.h>

#include "aio/worker-pool.h"
#include "exports/export.h"
#include "exports/nbd-tls.h"
#include "graph/error.h"
#include "exports/export-spec.h"

void export_spec_free(ExportSpec *spec)
{
    if (!spec)
        return;
    g_free(spec->type);
    g_free(spec->id);
    g_free(spec->node_name);
    g_free(spec->name);
    g_free(spec->description);
    g_free(spec->iothread);
    g_free(spec->server.path);
    g_free(spec->server.group);
    g_free(spec->server.host);
    g_free(spec->tls.dir);
    g_free(spec->tls.priority);
    g_free(spec->source);
    g_strfreev(spec->bitmaps);
    g_free(spec);
}

const char *export_server_type_name(ExportServerType type)
{
    return type == EXPORT_SERVER_UNIX ? "unix" : "inet";
}

char *export_server_describe(const ExportServerSpec *server)
{
    if (server->type == EXPORT_SERVER_UNIX)
        return g_strdup_printf("unix:%s", server->path);
    if (strchr(server->host, ':'))
        return g_strdup_printf("inet:[%s]:%u", server->host, server->port);
    return g_strdup_printf("inet:%s:%u", server->host, server->port);
}

/* Reading an export's TLS credentials in the worker pool; the job owns its strings. */
typedef struct TlsLoadJob {
    char *dir;
    char *priority;
    bool verify_peer;
    NbdTlsCreds *creds;
    GError *err;
} TlsLoadJob;

static void tls_load_job_free(void *opaque)
{
    TlsLoadJob *job = opaque;
    g_free(job->dir);
    g_free(job->priority);
    nbd_tls_creds_unref(job->creds);
    g_clear_error(&job->err);
    g_free(job);
}

static long tls_load_run(void *opaque)
{
    TlsLoadJob *job = opaque;
    NbdTlsConfig cfg = { .dir = job->dir, .verify_peer = job->verify_peer,
                         .priority = job->priority };
    job->creds = nbd_tls_creds_load(&cfg, &job->err);
    return job->creds ? 0 : -EINVAL;
}

/* A credentials directory on a hung file system must not hold AddExport forever. */
#define EXPORT_TLS_LOAD_TIMEOUT_US (15 * G_USEC_PER_SEC)

static NbdTlsCreds *export_load_tls(const ExportSpec *spec, GError **errp)
{
    TlsLoadJob *job = g_new0(TlsLoadJob, 1);
    job->dir = g_strdup(spec->tls.dir);
    job->priority = g_strdup(spec->tls.priority);
    job->verify_peer = spec->tls.verify_peer;
    void *opaque = job;
    long r = worker_pool_co_run_abandonable(tls_load_run, &opaque, tls_load_job_free,
                                            EXPORT_TLS_LOAD_TIMEOUT_US);
    if (!opaque) {
        bg_set_error_errno(errp, (int)r, "Export '%s': reading the TLS credentials in '%s' "
                           "did not finish", spec->id, spec->tls.dir);
        return NULL;
    }
    NbdTlsCreds *creds = g_steal_pointer(&job->creds);
    if (!creds) {
        g_propagate_prefixed_error(errp, g_steal_pointer(&job->err), "Export '%s': ", spec->id);
    }
    tls_load_job_free(job);
    return creds;
}

Export *coroutine_fn export_add_from_spec(const ExportSpec *spec, GError **errp)
{
    g_autoptr(NbdTlsCreds) tls = NULL;
    if (spec->tls.dir && !(tls = export_load_tls(spec, errp))) {
        if (spec->line > 0)
            bg_error_prefix_location(errp, spec->source, spec->line);
        return NULL;
    }
    Export *e = export_add(spec, tls, errp);
    if (!e && spec->line > 0)
        bg_error_prefix_location(errp, spec->source, spec->line);
    return e;
}
