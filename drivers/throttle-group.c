/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Throttle groups: leaky buckets shared round-robin by member nodes. */

#include "drivers/throttle-group.h"

#include <string.h>
#include <time.h>
#include <systemd/sd-event.h>

#include "aio/loop.h"
#include "graph/error.h"

#define THROTTLE_VALUE_MAX 1000000000000000ULL      /* QEMU's bound on every limit */
#define NS_PER_SEC 1000000000.0

typedef enum BucketType {
    BUCKET_BPS_TOTAL,
    BUCKET_BPS_READ,
    BUCKET_BPS_WRITE,
    BUCKET_OPS_TOTAL,
    BUCKET_OPS_READ,
    BUCKET_OPS_WRITE,
    BUCKETS,
} BucketType;

/* The option that sets each bucket's average; "<name>-max" and "<name>-max-length" follow. */
static const char *const bucket_option[BUCKETS] = {
    "bps-total", "bps-read", "bps-write", "iops-total", "iops-read", "iops-write",
};

typedef struct LeakyBucket {
    double avg;             /* units per second; 0: no limit */
    double max;             /* burst rate; 0: none */
    uint64_t burst_length;  /* seconds the burst rate may last */
    double level;           /* units in the bucket */
    double burst_level;     /* units in the burst bucket (burst_length > 1) */
} LeakyBucket;

struct ThrottleGroup {
    char *id;
    bool implicit;
    OptionSet *limits;
    LeakyBucket buckets[BUCKETS];
    uint64_t op_size;       /* iops-size: a request counts size/op_size operations */
    int64_t previous_leak;  /* ns, CLOCK_MONOTONIC */
    GList *members;         /* ThrottleMember*, round-robin order */
    ThrottleMember *token[THROTTLE_DIRECTIONS];     /* whose turn it is */
    ThrottleMember *timer_member[THROTTLE_DIRECTIONS];
    sd_event_source *timer[THROTTLE_DIRECTIONS];    /* armed: someone waits for budget */
    AioLoop *loop;          /* of the members (and the timers); NULL without members */
};

static GHashTable *groups;  /* id -> ThrottleGroup*; groups are global objects, as in QEMU */

#define LIMIT_OF(opt_name, opt_type, desc) \
    { .name = opt_name, .type = opt_type, .default_value = "0", .mutable_on_reopen = true, \
      .max_value = THROTTLE_VALUE_MAX, .description = desc }
#define LIMIT(name, desc) LIMIT_OF(name, OPTION_UINT, desc)
#define LIMIT_SIZE(name, desc) LIMIT_OF(name, OPTION_SIZE, desc)
#define LENGTH(opt_name) \
    { .name = opt_name, .type = OPTION_UINT, .default_value = "1", .mutable_on_reopen = true, \
      .description = "Seconds the burst rate may last" }

const OptionSpec throttle_limit_options[] = {
    LIMIT("iops-total", "Operations per second, reads and writes together (0: no limit)"),
    LIMIT("iops-total-max", "Burst rate of iops-total"),
    LENGTH("iops-total-max-length"),
    LIMIT("iops-read", "Read operations per second"),
    LIMIT("iops-read-max", "Burst rate of iops-read"),
    LENGTH("iops-read-max-length"),
    LIMIT("iops-write", "Write operations per second"),
    LIMIT("iops-write-max", "Burst rate of iops-write"),
    LENGTH("iops-write-max-length"),
    LIMIT_SIZE("bps-total", "Bytes per second, reads and writes together (0: no limit)"),
    LIMIT_SIZE("bps-total-max", "Burst rate of bps-total"),
    LENGTH("bps-total-max-length"),
    LIMIT_SIZE("bps-read", "Bytes read per second"),
    LIMIT_SIZE("bps-read-max", "Burst rate of bps-read"),
    LENGTH("bps-read-max-length"),
    LIMIT_SIZE("bps-write", "Bytes written per second"),
    LIMIT_SIZE("bps-write-max", "Burst rate of bps-write"),
    LENGTH("bps-write-max-length"),
    LIMIT_SIZE("iops-size", "A request of more bytes counts as size/iops-size operations (0: one)"),
    OPTION_TABLE_END,
};

/* ---- limits ---- */

static uint64_t limit_get(const OptionSet *set, const char *base, const char *suffix)
{
    g_autofree char *name = g_strconcat(base, suffix, NULL);

    return option_set_get_uint(set, name);
}

static bool limits_invalid(const char *id, GError **errp, const char *fmt, const char *name)
{
    g_autofree char *what = g_strdup_printf(fmt, name);

    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Throttle group '%s': %s", id, what);
    return false;
}

static bool bucket_check(const char *id, const LeakyBucket *b, const char *name, GError **errp)
{
    if (b->burst_length == 0)
        return limits_invalid(id, errp, "'%s-max-length' cannot be 0", name);
    if (b->burst_length > 1 && !b->max)
        return limits_invalid(id, errp, "'%s-max-length' is set without '%s-max'"
                              " (a burst length needs a burst rate)", name);
    if (b->max && !b->avg)
        return limits_invalid(id, errp, "'%s-max' needs '%s' to be set too", name);
    if (b->max && b->max < b->avg)
        return limits_invalid(id, errp, "'%s-max' cannot be lower than '%s'", name);
    if (b->max && (double)b->burst_length > THROTTLE_VALUE_MAX / b->max)
        return limits_invalid(id, errp, "'%s-max-length' is too long for '%s-max'", name);
    return true;
}

/* QEMU's throttle_is_valid: a total and a read/write limit of one kind exclude each other. */
static bool buckets_check(const char *id, const LeakyBucket *b, uint64_t op_size,
                          GError **errp)
{
    for (int kind = 0; kind < BUCKETS; kind += 3) {
        bool split_avg = b[kind + 1].avg || b[kind + 2].avg;
        bool split_max = b[kind + 1].max || b[kind + 2].max;

        if ((b[kind].avg && split_avg) || (b[kind].max && split_max))
            return limits_invalid(id, errp, "'%s' and its read/write limits cannot be set "
                                  "at the same time", bucket_option[kind]);
    }
    if (op_size && !b[BUCKET_OPS_TOTAL].avg && !b[BUCKET_OPS_READ].avg &&
        !b[BUCKET_OPS_WRITE].avg)
        return limits_invalid(id, errp, "'%s' needs an iops limit", "iops-size");
    for (int i = 0; i < BUCKETS; i++)
        if (!bucket_check(id, &b[i], bucket_option[i], errp))
            return false;
    return true;
}

static OptionSet *limits_parse(const char *id, GHashTable *raw, LeakyBucket *b,
                               uint64_t *op_size, GError **errp)
{
    const OptionSpec *const tables[] = { throttle_limit_options, NULL };
    g_autofree char *what = g_strdup_printf("throttle group '%s'", id);
    g_autoptr(OptionSet) set = option_set_parse(tables, raw, what, errp);

    if (!set)
        return NULL;
    for (int i = 0; i < BUCKETS; i++) {
        b[i] = (LeakyBucket){
            .avg = (double)limit_get(set, bucket_option[i], ""),
            .max = (double)limit_get(set, bucket_option[i], "-max"),
            .burst_length = limit_get(set, bucket_option[i], "-max-length"),
        };
    }
    *op_size = option_set_get_uint(set, "iops-size");
    if (!buckets_check(id, b, *op_size, errp))
        return NULL;
    return g_steal_pointer(&set);
}

/* ---- the leaky buckets (QEMU's util/throttle.c) ---- */

static void bucket_leak(LeakyBucket *b, int64_t delta_ns)
{
    b->level = MAX(b->level - b->avg * (double)delta_ns / NS_PER_SEC, 0);
    if (b->burst_length > 1)
        b->burst_level = MAX(b->burst_level - b->max * (double)delta_ns / NS_PER_SEC, 0);
}

/* How long the bucket makes the next request wait, in ns (0: it may go). */
static int64_t bucket_wait(const LeakyBucket *b)
{
    double size, burst_size, extra;

    if (!b->avg)
        return 0;
    /* Without a burst rate a tenth of a second's worth may still pass at once. */
    size = b->max ? b->max * (double)b->burst_length : b->avg / 10;
    burst_size = b->max / 10;
    extra = b->level - size;
    if (extra > 0)
        return (int64_t)(extra * NS_PER_SEC / b->avg);
    if (b->burst_length > 1) {
        extra = b->burst_level - burst_size;
        if (extra > 0)
            return (int64_t)(extra * NS_PER_SEC / b->max);
    }
    return 0;
}

static int64_t group_wait(ThrottleGroup *g, ThrottleDirection dir, int64_t now)
{
    static const BucketType checked[THROTTLE_DIRECTIONS][4] = {
        { BUCKET_BPS_TOTAL, BUCKET_OPS_TOTAL, BUCKET_BPS_READ, BUCKET_OPS_READ },
        { BUCKET_BPS_TOTAL, BUCKET_OPS_TOTAL, BUCKET_BPS_WRITE, BUCKET_OPS_WRITE },
    };
    int64_t wait = 0;

    if (now > g->previous_leak) {
        for (int i = 0; i < BUCKETS; i++)
            bucket_leak(&g->buckets[i], now - g->previous_leak);
        g->previous_leak = now;
    }
    for (int i = 0; i < 4; i++)
        wait = MAX(wait, bucket_wait(&g->buckets[checked[dir][i]]));
    return wait;
}

static void bucket_add(LeakyBucket *b, double units)
{
    b->level += units;
    if (b->burst_length > 1)
        b->burst_level += units;
}

static void group_account(ThrottleGroup *g, ThrottleDirection dir, uint64_t bytes)
{
    double units = 1.0;

    if (g->op_size && bytes > g->op_size)
        units = (double)bytes / (double)g->op_size;
    bucket_add(&g->buckets[BUCKET_BPS_TOTAL], (double)bytes);
    bucket_add(&g->buckets[BUCKET_OPS_TOTAL], units);
    bucket_add(&g->buckets[dir == THROTTLE_WRITE ? BUCKET_BPS_WRITE : BUCKET_BPS_READ],
               (double)bytes);
    bucket_add(&g->buckets[dir == THROTTLE_WRITE ? BUCKET_OPS_WRITE : BUCKET_OPS_READ], units);
}

/* ---- scheduling (QEMU's block/throttle-groups.c) ---- */

static void schedule_next(ThrottleMember *m, ThrottleDirection dir);

static bool timer_armed(const ThrottleGroup *g, ThrottleDirection dir)
{
    int enabled = SD_EVENT_OFF;

    return g->timer[dir] && sd_event_source_get_enabled(g->timer[dir], &enabled) >= 0 &&
           enabled != SD_EVENT_OFF;
}

static int timer_fired(sd_event_source *s, uint64_t usec, void *opaque);

static void timer_arm(ThrottleMember *m, ThrottleDirection dir, int64_t at_ns)
{
    ThrottleGroup *g = m->group;
    uint64_t usec = (uint64_t)(at_ns + 999) / 1000;

    g->timer_member[dir] = m;
    if (!g->timer[dir]) {
        if (sd_event_add_time(aio_loop_event(g->loop), &g->timer[dir], CLOCK_MONOTONIC, usec, 1,
                              timer_fired, g) < 0)
            g_error("Throttle group '%s': cannot add a timer", g->id);
        sd_event_source_set_description(g->timer[dir], "throttle-group");
    } else {
        sd_event_source_set_time(g->timer[dir], usec);
    }
    sd_event_source_set_enabled(g->timer[dir], SD_EVENT_ONESHOT);
}

static void timer_disarm(ThrottleGroup *g, ThrottleDirection dir)
{
    if (g->timer[dir])
        sd_event_source_set_enabled(g->timer[dir], SD_EVENT_OFF);
    g->timer_member[dir] = NULL;
}

/*
 * Whether m's next request in dir must wait: another waits for the timer
 * already, or the buckets are full (then the timer is armed for m).
 */
static bool must_wait(ThrottleMember *m, ThrottleDirection dir)
{
    ThrottleGroup *g = m->group;
    int64_t now, wait;

    if (m->disabled)
        return false;
    if (timer_armed(g, dir))
        return true;
    now = aio_now_ns();
    wait = group_wait(g, dir, now);
    if (!wait)
        return false;
    g->token[dir] = m;
    timer_arm(m, dir, now + wait);
    return true;
}

static ThrottleMember *member_after(ThrottleGroup *g, ThrottleMember *m)
{
    GList *l = g_list_find(g->members, m);

    return l && l->next ? l->next->data : g->members->data;
}

/* Round robin: the next member after the current token with requests waiting, else m. */
static ThrottleMember *next_token(ThrottleMember *m, ThrottleDirection dir)
{
    ThrottleGroup *g = m->group;
    ThrottleMember *start = g->token[dir] ? g->token[dir] : m;
    ThrottleMember *t = member_after(g, start);

    while (t != start && !t->pending[dir])
        t = member_after(g, t);
    if (t == start && !t->pending[dir])
        t = m;
    return t;
}

static bool restart_queue(ThrottleMember *m, ThrottleDirection dir)
{
    return co_queue_wake_next(&m->queue[dir]);
}

/* After a request of m went (or a timer fired): lets the next member's request go. */
static void schedule_next(ThrottleMember *m, ThrottleDirection dir)
{
    ThrottleGroup *g = m->group;
    ThrottleMember *t = next_token(m, dir);

    g->token[dir] = t;
    if (!t->pending[dir] || must_wait(t, dir))
        return;
    /* The budget allows it: m's own next request goes now, another member's on the loop. */
    if (t == m && restart_queue(m, dir))
        return;
    timer_arm(t, dir, aio_now_ns());
}

static int timer_fired(sd_event_source *s, uint64_t usec, void *opaque)
{
    ThrottleGroup *g = opaque;
    ThrottleDirection dir = s == g->timer[THROTTLE_WRITE] ? THROTTLE_WRITE : THROTTLE_READ;
    ThrottleMember *m = g->timer_member[dir];

    g->timer_member[dir] = NULL;
    if (m && !restart_queue(m, dir))
        schedule_next(m, dir);
    return 0;
}

void coroutine_fn throttle_member_co_intercept(ThrottleMember *m, uint64_t bytes,
                                               ThrottleDirection dir)
{
    ThrottleGroup *g = m->group;

    if (must_wait(m, dir) || (m->pending[dir] && !m->disabled)) {
        m->pending[dir]++;
        co_queue_wait(&m->queue[dir]);
        m->pending[dir]--;
    }
    group_account(g, dir, bytes);
    schedule_next(m, dir);
}

/* Lets a member's next waiting request go (the group's limits changed, a member left). */
static void kick(ThrottleGroup *g, ThrottleDirection dir)
{
    if (!g->members || timer_armed(g, dir))
        return;
    ThrottleMember *from = g->token[dir] ? g->token[dir] : g->members->data;
    ThrottleMember *t = next_token(from, dir);
    if (t->pending[dir])
        timer_arm(t, dir, aio_now_ns());
}

void throttle_member_disable(ThrottleMember *m)
{
    if (m->disabled++ > 0)
        return;
    /* The waiting requests go (charged as they go); the timer stays for the others. */
    for (int dir = 0; dir < THROTTLE_DIRECTIONS; dir++)
        co_queue_wake_all(&m->queue[dir]);
}

void throttle_member_enable(ThrottleMember *m)
{
    g_assert(m->disabled > 0);
    m->disabled--;
}

/* ---- groups and members ---- */

static void group_free(ThrottleGroup *g)
{
    for (int dir = 0; dir < THROTTLE_DIRECTIONS; dir++)
        sd_event_source_disable_unref(g->timer[dir]);
    option_set_free(g->limits);
    g_list_free(g->members);
    g_free(g->id);
    g_free(g);
}

static ThrottleGroup *group_find(const char *id)
{
    return groups ? g_hash_table_lookup(groups, id) : NULL;
}

bool throttle_group_exists(const char *id)
{
    return group_find(id) != NULL;
}

const OptionSet *throttle_group_limits(const char *id)
{
    ThrottleGroup *g = group_find(id);

    return g ? g->limits : NULL;
}

bool throttle_group_set(const char *id, GHashTable *raw, bool implicit, GError **errp)
{
    LeakyBucket b[BUCKETS];
    uint64_t op_size;
    OptionSet *limits = limits_parse(id, raw, b, &op_size, errp);
    ThrottleGroup *g = group_find(id);

    if (!limits)
        return false;
    if (!groups)
        groups = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify)group_free);
    if (!g) {
        g = g_new0(ThrottleGroup, 1);
        g->id = g_strdup(id);
        g->implicit = implicit;
        g_hash_table_insert(groups, g->id, g);
    }
    g->implicit = g->implicit && implicit;
    option_set_free(g->limits);
    g->limits = limits;
    /* New limits start with empty buckets (QEMU's throttle_config). */
    memcpy(g->buckets, b, sizeof(b));
    g->op_size = op_size;
    g->previous_leak = aio_now_ns();
    for (int dir = 0; dir < THROTTLE_DIRECTIONS; dir++) {
        ThrottleMember *waiting = g->timer_member[dir];

        /* Whoever waited for the timer goes now, charged to the new buckets. */
        timer_disarm(g, dir);
        if (!waiting || !restart_queue(waiting, dir))
            kick(g, dir);
    }
    return true;
}

bool throttle_limits_check(const char *id, GHashTable *raw, GError **errp)
{
    LeakyBucket b[BUCKETS];
    uint64_t op_size;
    OptionSet *limits = limits_parse(id, raw, b, &op_size, errp);

    option_set_free(limits);
    return limits != NULL;
}

void throttle_group_release(const char *id)
{
    ThrottleGroup *g = group_find(id);

    if (g && g->implicit && !g->members)
        g_hash_table_remove(groups, id);
}

bool throttle_group_check_loop(const char *id, AioLoop *loop, GError **errp)
{
    ThrottleGroup *g = group_find(id);

    if (!g) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND,
                    "No throttle group '%s' known (set it with SetThrottleGroup)", id);
        return false;
    }
    if (g->members && g->loop != loop) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Throttle group '%s' throttles nodes in the loop '%s', not '%s': the "
                    "nodes of a group share one loop", id, aio_loop_name(g->loop),
                    aio_loop_name(loop));
        return false;
    }
    return true;
}

bool throttle_member_join(ThrottleMember *m, const char *id, AioLoop *loop, GError **errp)
{
    ThrottleGroup *g = group_find(id);

    if (!throttle_group_check_loop(id, loop, errp))
        return false;
    for (int dir = 0; dir < THROTTLE_DIRECTIONS; dir++)
        co_queue_init(&m->queue[dir]);
    m->group = g;
    g->loop = loop;
    g->members = g_list_append(g->members, m);
    return true;
}

/* Without members the group belongs to no loop: its timers go with the last one. */
static void group_unbind(ThrottleGroup *g)
{
    for (int dir = 0; dir < THROTTLE_DIRECTIONS; dir++)
        g->timer[dir] = sd_event_source_disable_unref(g->timer[dir]);
    g->loop = NULL;
}

void throttle_member_leave(ThrottleMember *m)
{
    ThrottleGroup *g = m->group;

    if (!g)
        return;
    for (int dir = 0; dir < THROTTLE_DIRECTIONS; dir++) {
        g_assert(!m->pending[dir]);
        if (g->token[dir] == m)
            g->token[dir] = NULL;
        if (g->timer_member[dir] == m)
            timer_disarm(g, dir);
    }
    g->members = g_list_remove(g->members, m);
    m->group = NULL;
    for (int dir = 0; dir < THROTTLE_DIRECTIONS; dir++)
        kick(g, dir);
    if (!g->members)
        group_unbind(g);
    if (g->implicit && !g->members)
        g_hash_table_remove(groups, g->id);
}
