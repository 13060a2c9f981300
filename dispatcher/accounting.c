#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "acct_backend.h"
#include "accounting.h"
#include "log.h"

#define RETRY_INTERVAL 5 /* seconds between attempts while records wait in the spool */

struct queued {
	struct acct_record record;
	struct queued *next;
};

/* One backend, its thread, its queue and its spool. */
struct worker {
	const struct acct_backend *backend;
	void *state;
	char spool[PATH_MAX];
	pthread_t thread;
	pthread_mutex_t lock; /* guards the queue and `stopping` */
	pthread_cond_t wake;
	struct queued *head, *tail;
	bool stopping;
	/* the thread's own */
	bool outage;       /* logged once per outage, not per record */
	time_t next_retry; /* while spooled records wait */
	/* written by the thread (and `failed` by the dispatcher's), read by the
	 * dispatcher's: atomic */
	uint64_t written, spooled, failed, spool_depth;
};

struct accounting {
	struct worker workers[2];
	int count;
};

static void count(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/* ---- the spool: one JSON array [call_id, from_tag, to_tag, info] a line ---- */

static bool spool_waiting(const struct worker *w)
{
	return access(w->spool, F_OK) == 0;
}

static void spool_append(struct worker *w, const struct acct_record *r)
{
	json_t *line = json_pack("[sss?s]", r->call_id, r->from_tag, r->to_tag, r->info);
	FILE *f = fopen(w->spool, "a");
	int err = !line || !f || json_dumpf(line, f, JSON_COMPACT) || fputc('\n', f) == EOF;

	if (f && fclose(f))
		err = 1;
	json_decref(line);
	if (err) {
		log_err("accounting: cannot spool the record of %s to %s: %s; it is lost", r->call_id, w->spool,
			strerror(errno));
		count(&w->failed, 1);
		return;
	}
	count(&w->spooled, 1);
	count(&w->spool_depth, 1);
}

/* Lines in the spool an earlier run left. */
static uint64_t spool_lines(const struct worker *w)
{
	FILE *in = fopen(w->spool, "r");
	uint64_t lines = 0;
	int c;

	if (!in)
		return 0;
	while ((c = getc(in)) != EOF)
		lines += c == '\n';
	fclose(in);
	return lines;
}

static void outage_begins(struct worker *w)
{
	if (!w->outage)
		log_warn("accounting: the %s does not take records; spooling them to %s", w->backend->name, w->spool);
	w->outage = true;
	w->next_retry = time(NULL) + RETRY_INTERVAL;
}

/* Writes one record: true when it is done with (written, already there, or
 * rejected for good), false when it must wait in the spool.
 */
static bool write_record(struct worker *w, const struct acct_record *r)
{
	enum acct_result result = w->backend->write(w->state, r, w->outage);

	if (result == ACCT_RETRY) {
		outage_begins(w);
		return false;
	}
	if (result == ACCT_DUPLICATE)
		log_info("accounting: the record of %s was already in the %s", r->call_id, w->backend->name);
	count(result == ACCT_REJECTED ? &w->failed : &w->written, 1);
	return true;
}

/* Writes the spooled records in order, up to the first that must wait; the
 * rest stays spooled.
 */
static void spool_replay(struct worker *w)
{
	char tmp[PATH_MAX + 8], *buf = NULL;
	size_t cap = 0, done = 0;
	FILE *in = fopen(w->spool, "r"), *rest = NULL;
	bool waiting = false;
	uint64_t left = 0;
	ssize_t len;

	if (!in)
		return;
	snprintf(tmp, sizeof(tmp), "%s.new", w->spool);
	while ((len = getline(&buf, &cap, in)) > 0) {
		json_t *line = waiting ? NULL : json_loads(buf, 0, NULL);
		struct acct_record r = {
			.call_id = (char *)json_string_value(json_array_get(line, 0)),
			.from_tag = (char *)json_string_value(json_array_get(line, 1)),
			.to_tag = (char *)json_string_value(json_array_get(line, 2)),
			.info = (char *)json_string_value(json_array_get(line, 3)),
		};

		if (!waiting && r.info)
			acct_start_time(r.info, r.start_time);
		if (!waiting && !(r.call_id && r.from_tag && r.info)) {
			log_err("accounting: an unreadable line in %s was dropped", w->spool);
			count(&w->failed, 1);
		} else if (!waiting && write_record(w, &r)) {
			done++;
		} else {
			waiting = true;
			left++;
			if (rest || (rest = fopen(tmp, "w")))
				fputs(buf, rest);
		}
		json_decref(line);
	}
	free(buf);
	fclose(in);
	__atomic_store_n(&w->spool_depth, left, __ATOMIC_RELAXED);
	if (rest) {
		fclose(rest);
		rename(tmp, w->spool);
	} else {
		unlink(w->spool);
	}
	if (done)
		log_info("accounting: %zu spooled records written to the %s", done, w->backend->name);
	if (!waiting && w->outage) {
		log_info("accounting: the %s takes records again", w->backend->name);
		w->outage = false;
	}
}

/* ---- the worker thread ------------------------------------------------------- */

static void record_free(struct queued *q)
{
	free(q->record.call_id);
	free(q->record.from_tag);
	free(q->record.to_tag);
	free(q->record.info);
	free(q);
}

static struct queued *queue_pop(struct worker *w)
{
	struct queued *q = w->head;

	if (q && !(w->head = q->next))
		w->tail = NULL;
	return q;
}

/* Records keep their order: while some wait in the spool, new ones go
 * behind them, and the spool is retried every RETRY_INTERVAL.
 */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct queued *q;

	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		q = queue_pop(w);
		pthread_mutex_unlock(&w->lock);
		if (spool_waiting(w) && time(NULL) >= w->next_retry)
			spool_replay(w);
		if (q && (spool_waiting(w) || !write_record(w, &q->record)))
			spool_append(w, &q->record);
		if (q)
			record_free(q);
		pthread_mutex_lock(&w->lock);
		while (!w->head && !w->stopping) {
			if (!spool_waiting(w)) {
				pthread_cond_wait(&w->wake, &w->lock);
			} else if (pthread_cond_timedwait(&w->wake, &w->lock,
							  &(struct timespec){ .tv_sec = w->next_retry }) == ETIMEDOUT) {
				break;
			}
		}
	}
	/* stopping: what was not written yet waits in the spool for the next run */
	while ((q = queue_pop(w))) {
		spool_append(w, &q->record);
		record_free(q);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int worker_start(struct worker *w, const struct acct_backend *backend, const struct mp_config *cfg,
			const char *runtime_dir)
{
	bool fatal = false;

	w->backend = backend;
	snprintf(w->spool, sizeof(w->spool), "%s/accounting-%s.spool", runtime_dir, backend->name);
	if (!(w->state = backend->open(cfg, &fatal)))
		return -1;
	if (spool_waiting(w))
		log_info("accounting: records spooled by an earlier run wait in %s", w->spool);
	w->spool_depth = spool_lines(w);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	if (pthread_create(&w->thread, NULL, worker_run, w)) {
		log_err("accounting: cannot start the %s thread", backend->name);
		backend->close(w->state);
		return -1;
	}
	return 0;
}

static void worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->backend->close(w->state);
}

/* ---- the dispatcher's side -------------------------------------------------------- */

static const struct acct_backend *database_backend(const char *uri)
{
	static const struct {
		const char *scheme;
		const struct acct_backend *backend;
	} schemes[] = {
		{ "sqlite://", &acct_sqlite },
		{ "postgresql://", &acct_postgresql },
		{ "postgres://", &acct_postgresql },
		{ "mysql://", &acct_mysql },
	};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (!strncmp(uri, schemes[i].scheme, strlen(schemes[i].scheme)))
			return schemes[i].backend;
	log_err("accounting: [Database] dburi %s: unknown scheme; use sqlite://, postgresql:// or mysql://", uri);
	return NULL;
}

void accounting_record(struct accounting *a, const char *call_id, const char *from_tag, const char *to_tag,
		       const char *info)
{
	char start_time[ACCT_TIME_LEN];

	acct_start_time(info, start_time);
	for (int i = 0; i < a->count; i++) {
		struct worker *w = &a->workers[i];
		struct queued *q = calloc(1, sizeof(*q));

		if (!q || !(q->record.call_id = strdup(call_id)) || !(q->record.from_tag = strdup(from_tag)) ||
		    (to_tag && !(q->record.to_tag = strdup(to_tag))) || !(q->record.info = strdup(info))) {
			log_err("accounting: out of memory; the record of %s is lost", call_id);
			count(&w->failed, 1);
			if (q)
				record_free(q);
			continue;
		}
		memcpy(q->record.start_time, start_time, sizeof(start_time));
		pthread_mutex_lock(&w->lock);
		if (w->tail)
			w->tail->next = q;
		else
			w->head = q;
		w->tail = q;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
	}
}

struct accounting *accounting_open(const struct mp_config *cfg, const char *runtime_dir, bool *failed)
{
	const struct acct_backend *chosen[2];
	struct accounting *a;
	int n = 0;

	*failed = false;
	if (cfg->dispatcher.accounting & MP_ACCOUNTING_DATABASE) {
		if (!(chosen[n++] = database_backend(cfg->database.dburi))) {
			*failed = true;
			return NULL;
		}
	}
	if (cfg->dispatcher.accounting & MP_ACCOUNTING_RADIUS)
		chosen[n++] = &acct_radius;
	if (!n)
		return NULL;
	if (!(a = calloc(1, sizeof(*a)))) {
		*failed = true;
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		if (worker_start(&a->workers[i], chosen[i], cfg, runtime_dir)) {
			accounting_close(a);
			*failed = true;
			return NULL;
		}
		a->count++;
	}
	return a;
}

unsigned accounting_stats(const struct accounting *a, struct accounting_stats *out, unsigned max)
{
	unsigned n = 0;

	for (int i = 0; a && i < a->count && n < max; i++, n++) {
		const struct worker *w = &a->workers[i];

		out[n] = (struct accounting_stats){
			.backend = w->backend->name,
			.written = __atomic_load_n(&w->written, __ATOMIC_RELAXED),
			.spooled = __atomic_load_n(&w->spooled, __ATOMIC_RELAXED),
			.failed = __atomic_load_n(&w->failed, __ATOMIC_RELAXED),
			.spool_depth = __atomic_load_n(&w->spool_depth, __ATOMIC_RELAXED),
		};
	}
	return n;
}

void accounting_close(struct accounting *a)
{
	if (!a)
		return;
	for (int i = 0; i < a->count; i++)
		worker_stop(&a->workers[i]);
	free(a);
}
