/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A main for a libFuzzer harness built without libFuzzer: runs every file
 * given (or every file in a folder given) through LLVMFuzzerTestOneInput
 * once.  The test suite replays the seed corpora this way, so that the
 * harnesses keep building and their seeds keep passing with any compiler.
 */

#include <stdint.h>
#include <stdio.h>
#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize size;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &data, &size, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return -1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, size);
    return 1;
}

static int compare_paths(const void *a, const void *b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &err);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    int n = 0;

    if (!d) {
        fprintf(stderr, "%s\n", err->message);
        return -1;
    }
    for (const char *name; (name = g_dir_read_name(d));)
        g_ptr_array_add(names, g_build_filename(dir, name, NULL));
    g_ptr_array_sort(names, compare_paths);
    for (guint i = 0; i < names->len; i++) {
        int r = replay_file(g_ptr_array_index(names, i));
        if (r < 0)
            return r;
        n += r;
    }
    return n;
}

int main(int argc, char **argv)
{
    int total = 0;

    for (int i = 1; i < argc; i++) {
        int r = g_file_test(argv[i], G_FILE_TEST_IS_DIR) ? replay_dir(argv[i])
                                                         : replay_file(argv[i]);
        if (r < 0)
            return 1;
        total += r;
    }
    printf("replayed %d inputs\n", total);
    return total > 0 ? 0 : 1;
}
