/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The `create` job (jobs/create.h): checks the <create> options against
 * the common table below and the driver's create_options, takes its target
 * (a file it makes, or a link to a protocol node nobody else writes), runs
 * the driver's co_create in its coroutine, and on failure removes the file
 * it made.  CreateImage calls create_job_co_start; StartJob knows no type
 * `create`.
 */

#include <errno.h>
#include <string.h>

#include "drivers/create.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "jobs/create.h"
#include "jobs/job-internal.h"

/* A key no XML attribute can have: the <file ref=.../> of the snippet. */
#define CREATE_FILE_REF_KEY "<file>"

static const OptionSpec create_common_options[] = {
    { .name = "driver", .type = OPTION_STRING, .required = true,
      .description = "The driver of the new image: file, raw, qcow2, rbd" },
    { .name = "filename", .type = OPTION_STRING,
      .description = "The file to create (or <file ref=\"node\"/> for a protocol node)" },
    { .name = "size", .type = OPTION_SIZE,
      .description = "The virtual size, in bytes (suffixes k, M, G, T); required unless "
                     "a backing-file gives it" },
    { .name = "overwrite", .type = OPTION_BOOL, .default_value = "off",
      .description = "Replace an existing file (or rbd image)" },
    { .name = "id", .type = OPTION_STRING, .description = "The job's id (default: createN)" },
    { .name = "auto-finalize", .type = OPTION_BOOL, .default_value = "on",
      .description = "As in <job>" },
    { .name = "auto-dismiss", .type = OPTION_BOOL, .default_value = "on",
      .description = "As in <job>" },
    OPTION_TABLE_END,
};

typedef struct CreateJob {
    Job common;
    const BlockDriver *drv;
    OptionSet *opts;
    char *what;                 /* "qcow2 image '/path'" */
    CreateFile file;            /* filename=: the file made or opened */
    BlockChild *link;           /* <file ref>: the job's link to the node */
    ImageCreate create;
    bool created;               /* co_create succeeded */
    bool size_from_backing;     /* no size=: the backing file's, found in setup */
} CreateJob;

void create_spec_free(CreateSpec *spec)
{
    if (!spec)
        return;
    if (spec->attrs)
        g_hash_table_unref(spec->attrs);
    g_free(spec->file_ref);
    g_free(spec);
}

static const BlockDriver *create_find_driver(const char *name, GError **errp)
{
    const BlockDriver *drv = name ? block_driver_find(name) : NULL;
    g_autoptr(GString) list = g_string_new(NULL);

    if (drv && drv->co_create)
        return drv;
    for (const BlockDriver *const *d = block_drivers(); *d; d++)
        if ((*d)->co_create)
            g_string_append_printf(list, "%s%s", list->len ? ", " : "", (*d)->name);
    if (!name)
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "<create> needs a 'driver' attribute (one of %s)", list->str);
    else
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Unknown driver '%s' for <create> (drivers that create images: %s)",
                    name, list->str);
    return NULL;
}

/* The options, checked against the tables and by the driver. */
static bool create_parse_options(CreateJob *cj, const JobSpec *spec, GError **errp)
{
    g_autoptr(GHashTable) raw = g_hash_table_new(g_str_hash, g_str_equal);
    const char *ref = job_spec_get(spec, CREATE_FILE_REF_KEY);
    const char *filename = job_spec_get(spec, "filename");
    GHashTableIter it;
    gpointer k, v;

    cj->drv = create_find_driver(job_spec_get(spec, "driver"), errp);
    if (!cj->drv)
        return false;
    if (cj->drv->create_locates_image)
        cj->what = g_strdup_printf("%s image", cj->drv->name);
    else if (filename)
        cj->what = g_strdup_printf("%s image '%s'", cj->drv->name, filename);
    else
        cj->what = g_strdup_printf("%s image on node '%s'", cj->drv->name, ref ? ref : "?");
    g_hash_table_iter_init(&it, spec->attrs);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (strcmp(k, CREATE_FILE_REF_KEY) != 0)
            g_hash_table_insert(raw, k, v);
    const OptionSpec *const tables[] = { create_common_options, cj->drv->create_options, NULL };
    cj->opts = option_set_parse(tables, raw, cj->what, errp);
    if (!cj->opts)
        return false;
    cj->create.opts = cj->opts;
    cj->create.what = cj->what;
    cj->create.size = option_set_get_uint(cj->opts, "size");
    cj->size_from_backing = !option_set_is_set(cj->opts, "size");
    if (cj->size_from_backing && !option_set_is_set(cj->opts, "backing-file")) {
        create_invalid(&cj->create, errp, "'size' is required (or a backing-file to take "
                       "the size of)");
        return false;
    }
    if (cj->drv->create_locates_image && (filename || ref)) {
        create_invalid(&cj->create, errp, "driver '%s' takes the image's place from its "
                       "options, not from filename= or <file ref>", cj->drv->name);
        return false;
    }
    if (!cj->drv->create_locates_image && !filename == !ref) {
        create_invalid(&cj->create, errp, "give either filename= or <file ref=\"node\"/>");
        return false;
    }
    if (ref && cj->drv->kind == BLOCK_DRIVER_PROTOCOL) {
        create_invalid(&cj->create, errp, "driver '%s' creates a file by filename=; "
                       "<file ref> takes a format (raw, qcow2)", cj->drv->name);
        return false;
    }
    return !cj->drv->create_check || cj->drv->create_check(&cj->create, errp);
}

/* <file ref>: a protocol node that nobody else writes; the job writes and resizes it. */
static int create_take_node(CreateJob *cj, const char *name, GError **errp)
{
    BlockNode *node = graph_lookup(name);
    const BlockChild *writer;

    if (!node) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No node '%s' known", name);
        return -ENOENT;
    }
    if (node->drv->kind != BLOCK_DRIVER_PROTOCOL)
        return create_invalid(&cj->create, errp, "node '%s' is a %s node (driver %s); an "
                              "image is created on a protocol node", name,
                              block_driver_kind_name(node->drv->kind), node->drv->name);
    writer = perm_first_writer(node);
    if (writer) {
        g_autofree char *user = block_child_describe_user(writer);

        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY, "Cannot create %s: node '%s' is in use "
                    "by a writer: %s", cj->what, name, user);
        return -EBUSY;
    }
    cj->link = job_add_node(&cj->common, node,
                            BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE,
                            BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED, errp);
    if (!cj->link)
        return -EPERM;
    cj->create.target = create_target_new_link(cj->link);
    return 0;
}

/* No size=: the backing image's virtual size (QEMU's bdrv_img_create), checked again. */
static int coroutine_fn create_size_from_backing(CreateJob *cj, const char *ref, GError **errp)
{
    BlockNode *node = ref ? graph_lookup(ref) : NULL;
    const char *image = ref ? (node ? node->filename : NULL)
                            : option_set_get_string(cj->opts, "filename");
    int r = create_co_backing_size(image, option_set_get_string(cj->opts, "backing-file"),
                                   option_set_get_string(cj->opts, "backing-fmt"), cj->what,
                                   &cj->create.size, errp);

    if (r < 0)
        return r;
    return !cj->drv->create_check || cj->drv->create_check(&cj->create, errp) ? 0 : -EINVAL;
}

/*
 * A driver that places the image itself (rbd) creates it here, as a file
 * is made here: an image that exists, or a place that does not, fails the
 * CreateImage call itself.
 */
static int coroutine_fn create_in_place(CreateJob *cj, GError **errp)
{
    int r = cj->drv->co_create(&cj->create, errp);

    cj->created = r == 0;
    return r;
}

static int coroutine_fn create_setup(Job *job, const JobSpec *spec, GError **errp)
{
    CreateJob *cj = (CreateJob *)job;
    const char *ref = job_spec_get(spec, CREATE_FILE_REF_KEY);
    int r;

    if (!create_parse_options(cj, spec, errp))
        return -EINVAL;
    if (cj->size_from_backing && (r = create_size_from_backing(cj, ref, errp)) < 0)
        return r;
    if (cj->drv->create_locates_image)
        return create_in_place(cj, errp);
    if (ref)
        return create_take_node(cj, ref, errp);
    r = create_file_co_open(option_set_get_string(cj->opts, "filename"),
                            option_set_get_bool(cj->opts, "overwrite"), &cj->file, errp);
    if (r < 0)
        return r;
    cj->create.target = create_target_new_fd(cj->file.fd, 0);
    return 0;
}

static bool coroutine_fn create_progress(ImageCreate *c, uint64_t done)
{
    Job *job = c->opaque;

    job_progress_done(job, done, done);
    return !job_is_cancelled(job);
}

static void create_progress_total(ImageCreate *c, uint64_t total)
{
    job_progress_set_remaining(c->opaque, total);
}

static int coroutine_fn create_run(Job *job, GError **errp)
{
    CreateJob *cj = (CreateJob *)job;

    cj->create.opaque = job;
    cj->create.progress = create_progress;
    cj->create.progress_total = create_progress_total;
    if (cj->drv->create_locates_image)
        return 0;               /* created in create_setup */
    int r = cj->drv->co_create(&cj->create, errp);
    cj->created = r == 0;
    return r;
}

/* Also after a setup that failed late: a file the job made and did not finish goes. */
static void coroutine_fn create_clean(Job *job)
{
    CreateJob *cj = (CreateJob *)job;

    if (cj->file.path)
        create_file_co_close(&cj->file, !cj->created || job->ret != 0);
}

static void create_free(Job *job)
{
    CreateJob *cj = (CreateJob *)job;

    g_clear_pointer(&cj->create.target, create_target_free);
    option_set_free(cj->opts);
    g_free(cj->what);
}

static const JobDriver create_job_driver = {
    .type = "create",
    .instance_size = sizeof(CreateJob),
    .co_setup = create_setup,
    .co_run = create_run,
    .co_clean = create_clean,
    .free = create_free,
};

/* createN, the first one free. */
static char *create_job_id(void)
{
    for (unsigned i = 0;; i++) {
        g_autofree char *id = g_strdup_printf("create%u", i);

        if (!job_lookup(id))
            return g_steal_pointer(&id);
    }
}

static bool create_bool_attr(const CreateSpec *spec, const char *name)
{
    const char *text = g_hash_table_lookup(spec->attrs, name);
    bool b = true;

    return !text || !option_parse_bool(text, &b) || b;    /* a bad value fails in setup */
}

Job *coroutine_fn create_job_co_start(const CreateSpec *spec, const char *xml, uint32_t uid,
                                      GError **errp)
{
    const char *id = g_hash_table_lookup(spec->attrs, "id");
    g_autoptr(JobSpec) js = g_new0(JobSpec, 1);

    js->type = g_strdup("create");
    js->id = id ? g_strdup(id) : create_job_id();
    js->on_error = JOB_ON_ERROR_REPORT;
    js->auto_finalize = create_bool_attr(spec, "auto-finalize");
    js->auto_dismiss = create_bool_attr(spec, "auto-dismiss");
    js->attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, spec->attrs);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(js->attrs, g_strdup(k), g_strdup(v));
    if (spec->file_ref)
        g_hash_table_insert(js->attrs, g_strdup(CREATE_FILE_REF_KEY), g_strdup(spec->file_ref));
    return job_co_create(&create_job_driver, js, xml, uid, errp);
}
