#!/usr/bin/python3
"""The soak's report, from what soak.py left in WORK: printed, and written
to WORK/report.md (the samples also to WORK/samples.csv).  Exits 1 when a
check fails.  README.md here says how to read it.

  report.py WORK
"""
import collections
import csv
import glob
import json
import os
import re
import sys

WARM_UP = 60  # seconds of each daemon instance before its samples count
FD_SLACK = 4  # descriptors a daemon may gain after warm-up and still be flat: one call's, as a
# relay's sessions and descriptors are not read at the same instant
RSS_SLACK = 1 << 20  # bytes (or RSS_SLACK_SHARE of the RSS, whichever is more)
RSS_SLACK_SHARE = 0.05
FDS_A_CALL = 4  # a relay's sockets for a one-stream call: RTP and RTCP on each side
STATE_LAG = 1.5  # seconds of changes a SIGKILLed relay may lose: its state file is written once a second
PTIME = 0.02  # media.py's packet interval


def load_calls(path):
    """call number -> {step: (time, outcome, answer)}, from cpload's events."""
    calls = collections.defaultdict(dict)
    with open(path) as f:
        for line in f:
            t, number, step, outcome, answer = line.rstrip("\n").split("\t")[:5]
            calls[int(number)][step] = (float(t), outcome, answer)
    return calls


def outcome(call, step):
    return call.get(step, (None, "none", ""))[1]


def cid(n):
    return f"cpload-{n}"


class Run:
    def __init__(self, work):
        self.work = work
        self.run = json.load(open(f"{work}/run.json"))
        self.t0 = self.run["started"]
        self.calls = load_calls(f"{work}/events.tsv")
        self.relay_names = {ip: name for name, ip in self.run["relay_ips"].items()}
        self.rows = collections.Counter(call_id for call_id, _, _ in self.run["rows"])
        self.timed_out = {call_id for call_id, timed_out, _ in self.run["rows"] if timed_out}
        self.timeline = self.run["timeline"]
        self.media = [json.loads(line) for line in open(f"{work}/media.jsonl")]
        self.dispatcher_log = open(f"{work}/dispatcher.log", errors="replace").read()
        self.failed_checks = []

    def rel(self, t):
        return t - self.t0

    def check(self, ok, what):
        if not ok:
            self.failed_checks.append(what)
        return "yes" if ok else "**NO**"

    def relay_of(self, n):
        """The relay that took call n, by the address its offer's answer named."""
        t, result, answer = self.calls[n].get("offer", (None, "none", ""))
        return self.relay_names.get(answer.split()[0]) if result == "ok" else None

    # ---- what the disturbances explain ---------------------------------------------------------

    def killed_after(self, t, relay):
        """The SIGKILL of `relay` that came within STATE_LAG after `t`: a
        change at `t` may be missing from the state file it restarted from."""
        for d in self.timeline:
            if d["kind"] == "relay_kill" and d["target"] == relay and 0 <= d["start"] - t <= STATE_LAG:
                return d
        return None

    def during(self, t, relay):
        """The disturbance a request that failed at `t` on `relay` (None: no
        relay took the call) falls in: a restart of the dispatcher, or of that relay."""
        for d in self.timeline:
            if d["start"] - 1 <= t <= d["end"] + 2 and (d["target"] in ("dispatcher", relay) or
                                                        (relay is None and d["target"].startswith("relay"))):
                return d
        return None

    def context(self, t, relay):
        """Where `t` stands against the nearest disturbance of `relay` or the
        dispatcher that began before it, or within STATE_LAG after it."""
        near = [d for d in self.timeline if d["start"] <= t + STATE_LAG and d["target"] in (relay, "dispatcher")]
        if not near:
            return f"{relay}, {self.rel(t):.1f} s into the run"
        d = min(near, key=lambda d: abs(t - d["start"]))
        return (f"{relay}, {abs(t - d['start']):.2f} s {'after' if t >= d['start'] else 'before'} the start of: "
                f"{d['what']}")

    # ---- calls and accounting ------------------------------------------------------------------

    def calls_section(self):
        calls = self.calls
        self.set_up = {n for n, c in calls.items() if outcome(c, "offer") == "ok" and outcome(c, "answer") == "ok"}
        self.removed = {n for n in self.set_up if outcome(calls[n], "remove") == "ok"}
        self.not_removed = self.set_up - self.removed
        self.offered_only = {n for n, c in calls.items() if outcome(c, "offer") == "ok"} - self.set_up
        return ["## Calls", "",
                "| calls | count |", "|---|---|",
                f"| attempted (offer sent) | {len(calls)} |",
                f"| set up (the dispatcher answered the offer and the answer) | {len(self.set_up)} |",
                f"| set up and removed | {len(self.removed)} |",
                f"| set up, remove failed (a disturbance; below) | {len(self.not_removed)} |",
                f"| offer answered, answer failed | {len(self.offered_only)} |",
                f"| offer failed | {len(calls) - len(self.set_up) - len(self.offered_only)} |", "",
                f"* The dispatcher's answers, over the whole run: {latency(self.run['cpload'], 'update')}, "
                f"{latency(self.run['cpload'], 'remove')}.", ""]

    def lost_with_relay(self, n):
        """Set-up call n has no row because its relay was SIGKILLed before its
        state file held the answer (and the call was not removed before that)."""
        d = self.killed_after(self.calls[n]["answer"][0], self.relay_of(n))
        removed = self.calls[n]["remove"][0] if outcome(self.calls[n], "remove") == "ok" else None
        return d if d and (removed is None or removed >= d["start"]) else None

    def accounting_section(self):
        rows, calls = self.rows, self.calls

        def count(numbers, n_rows):
            return sum(1 for n in numbers if rows[cid(n)] == n_rows)

        def more(numbers):
            return sum(1 for n in numbers if rows[cid(n)] > 1)

        # a call answered within STATE_LAG before its relay's SIGKILL comes back
        # from the state file unanswered, whether its remove then failed or not
        missing = sorted(n for n in self.set_up if not rows[cid(n)])
        explained = [n for n in missing if self.lost_with_relay(n)]
        lost = [n for n in missing if n not in explained]
        unanswered_rows = {n for n in self.offered_only if rows[cid(n)]}
        refused_rows = [n for n in unanswered_rows if outcome(calls[n], "answer") == "error"]
        known = {cid(n) for n in calls}
        foreign = [c for c in rows if c not in known]
        twice = self.accounted_twice()
        twice_explained = {c: d for c, d in twice.items() if d}
        in_order, n_compared = self.rows_in_dispatcher_order()
        log = self.dispatcher_log_counts()
        return ["## Accounting: one row for every call the dispatcher answered", "",
                "| calls | count | exactly one row | no row | more than one |", "|---|---|---|---|---|",
                f"| set up and removed | {len(self.removed)} | {count(self.removed, 1)} | "
                f"{sum(1 for n in missing if n in self.removed)} | "
                f"{more(self.removed)} |",
                f"| set up, remove failed: accounted when their relay timed them out | {len(self.not_removed)} | "
                f"{count(self.not_removed, 1)} | "
                f"{sum(1 for n in missing if n in self.not_removed)} | {more(self.not_removed)} |",
                f"| offer answered, answer failed, yet a row (the answer reached a relay, the dispatcher stopped "
                f"before it answered) | {len(unanswered_rows)} | {count(unanswered_rows, 1)} | - | "
                f"{more(unanswered_rows)} |",
                "",
                f"* **Set-up calls lost: {len(lost)}, duplicated: {more(self.set_up)}** "
                f"{self.check(not lost and not more(self.set_up), 'set-up calls lost or duplicated')}"
                + "".join(f"; {cid(n)} ({self.context(calls[n]['answer'][0], self.relay_of(n))})" for n in lost)
                + ".",
                f"* Set-up calls without a row because their relay was SIGKILLed before its state file held them "
                f"(written at most once a second), counted apart: {len(explained)}"
                + "".join(f"; {cid(n)} (answered {self.lost_with_relay(n)['start'] - calls[n]['answer'][0]:.2f} s "
                          f"before the SIGKILL of {self.relay_of(n)})" for n in explained) + ".",
                f"* Records the dispatcher wrote twice (the table's unique index kept one row): {len(twice)}; "
                f"removed less than {STATE_LAG} s before their relay's SIGKILL, so back from its state file and "
                f"accounted again when they timed out: {len(twice_explained)}; others "
                f"{self.check(len(twice) == len(twice_explained), 'records written twice')}"
                + "".join(f"; {c} ({self.context(self.calls[int(c[7:])]['remove'][0], self.relay_of(int(c[7:])))})"
                          for c in twice if c not in twice_explained) + ".",
                f"* Rows of calls whose answer was refused: {len(refused_rows)}; of Call-IDs cpload never used: "
                f"{len(foreign)} {self.check(not refused_rows and not foreign, 'rows nobody asked for')}.",
                f"* Rows in the order the dispatcher ended their sessions (its log): "
                f"{self.check(in_order, 'rows out of order')} ({n_compared} rows compared).",
                f"* Database outages: the dispatcher began spooling {log['spooling']} times; {log['replayed']} "
                f"spooled records written afterwards; a spool left by a stopping dispatcher taken up by the next "
                f"{log['earlier_run']} times.", ""]

    def accounted_twice(self):
        """Call-IDs the dispatcher accounted again: -> the SIGKILL that explains it, or None."""
        twice = {}
        for c in re.findall(r"accounting: the record of (\S+) was already in the", self.dispatcher_log):
            n = int(c[len("cpload-"):])
            removed = self.calls[n].get("remove", (None,))[0]
            twice[c] = self.killed_after(removed, self.relay_of(n)) if removed else None
        return twice

    def rows_in_dispatcher_order(self):
        """Whether the rows' order is the order of the dispatcher's 'session X ended' lines."""
        logged = list(dict.fromkeys(c for c in re.findall(r" session (\S+) ended: ", self.dispatcher_log)
                                    if self.rows[c]))
        table = list(dict.fromkeys(call_id for call_id, _, _ in self.run["rows"]))
        return logged == table, len(table)

    def dispatcher_log_counts(self):
        log = self.dispatcher_log
        return {"spooling": len(re.findall(r"does not take records; spooling", log)),
                "replayed": sum(int(n) for n in re.findall(r"accounting: (\d+) spooled records written", log)),
                "earlier_run": len(re.findall(r"records spooled by an earlier run wait", log)),
                "forgotten": sum(int(n) for n in re.findall(r"(\d+) sessions it no longer has were forgotten", log))}

    # ---- requests that failed ------------------------------------------------------------------

    def failures_section(self):
        by_disturbance = collections.defaultdict(collections.Counter)
        unexplained = []
        for n, call in self.calls.items():
            relay = self.relay_of(n)
            for step in ("offer", "answer", "remove"):
                if step not in call or call[step][1] == "ok":
                    continue
                t = call[step][0]
                d = self.during(t, relay) or (self.lost_with_relay(n) if step == "remove" else None)
                by_disturbance[id(d)][f"{step} {call[step][1]}"] += 1
                if not d:
                    unexplained.append(f"{cid(n)} {step} {call[step][1]} ({self.context(t, relay)})")
        out = ["## Disturbances, and the requests that failed during them", "",
               "| at (s) | what | took (s) | requests that failed (step and outcome) |", "|---|---|---|---|"]
        for d in self.timeline:
            failed = by_disturbance.get(id(d), {})
            out.append(f"| {self.rel(d['start']):.0f} | {d['what']} | {d['end'] - d['start']:.1f} | "
                       f"{', '.join(f'{k}: {v}' for k, v in sorted(failed.items())) or 'none'} |")
        return out + ["", "An `error` is the dispatcher's answer (a remove for a call whose relay was away or lost "
                      "it, an offer with no relay connected); `lost`: the connection closed before the answer; "
                      "`unreachable`: no connection could be made; `timeout`: no answer in 10 s.  A request counts "
                      "for a disturbance from 1 s before it to 2 s after it ended, and for a relay's only on that "
                      "relay; the remove of a call its SIGKILLed relay lost counts for that SIGKILL.", "",
                      f"* Requests that failed outside every disturbance: {len(unexplained)} "
                      f"{self.check(not unexplained, 'requests failed outside any disturbance')}"
                      + "".join(f"; {u}" for u in unexplained[:20]) + ".", ""]

    # ---- media -----------------------------------------------------------------------------------

    def media_excuse(self, m, relay):
        """The disturbance that may cost a media call packets: its relay
        SIGKILLed, or a userspace relay restarted (the kernel tiers keep
        forwarding through a SIGQUIT restart)."""
        start, end = m["answered_at"], m["answered_at"] + self.run["media_seconds"]
        for d in self.timeline:
            if d["target"] == relay and d["start"] <= end and d["end"] + 1 >= start and (
                    d["kind"] == "relay_kill" or self.run["tiers"][relay[-1]] == "userspace"):
                return d
        return None

    def media_section(self):
        tiers = self.run["tiers"]
        per_relay = collections.defaultdict(collections.Counter)
        lossy = []
        for m in self.media:
            relay = self.relay_names[m["relay"]]
            c = per_relay[relay]
            c["calls"] += 1
            c["latched"] += m["latched_after"] is not None
            gaps, lost = [], 0
            for way in ("caller_to_callee", "callee_to_caller"):
                r = m[way]
                c["expected"] += r["expected_after_latching"]
                c["received"] += r["received_after_latching"]
                c["corrupt"] += r["corrupt"]
                c["wrong_source"] += r["wrong_source"]
                lost += r["expected_after_latching"] - r["received_after_latching"]
                gaps += [f"{way.replace('_to_', '->')} {b - a + 1} from {self.rel(m['answered_at'] + a * PTIME):.2f} s"
                         for a, b in r["missing"]]
            if lost or m["latched_after"] is None:
                lossy.append((m, relay, gaps, self.media_excuse(m, relay)))
        out = ["## Media: every 10th call, RTP both ways after latching", "",
               "| relay (tier) | media calls | latched both ways | packets sent after latching | received | lost "
               "| corrupt | from a wrong address |", "|---|---|---|---|---|---|---|---|"]
        for relay in sorted(per_relay):
            c = per_relay[relay]
            out.append(f"| {relay} ({tiers[relay[-1]]}) | {c['calls']} | {c['latched']} | {c['expected']} | "
                       f"{c['received']} | {c['expected'] - c['received']} | {c['corrupt']} | {c['wrong_source']} |")
        unexcused = [x for x in lossy if not x[3]]
        bad = sum(c["corrupt"] + c["wrong_source"] for c in per_relay.values())
        latching = [m["latched_after"] for m in self.media if m["latched_after"] is not None]
        kernel = "; ".join(f"{relay}: " + ", ".join(f"{name} {n}" for name, n in counters.items())
                           for relay, counters in self.run["fast_path"].items())
        return out + ["", "Packets are lost legitimately only while the call's relay is SIGKILLed, or while a "
                      "userspace relay restarts: the XDP and tc tiers keep forwarding through a SIGQUIT restart.",
                      "", f"* Media calls that lost packets after latching, or never latched: {len(lossy)}"
                      + "".join(f"; {cid(m['call'])} on {relay}: {', '.join(gaps) or 'never latched'} "
                                f"({'during: ' + d['what'] if d else 'no disturbance excuses it'})"
                                for m, relay, gaps, d in lossy[:20]) + ".",
                      f"* Every packet after latching delivered intact, but where a disturbance excuses it: "
                      f"{self.check(not unexcused and not bad, 'media lost or corrupted')}.",
                      f"* Slowest latching (answer to the first packet both ways): {max(latching, default=0):.3f} s.",
                      f"* What the relays' BPF programs did with the packets (their mp_stats over the whole run; "
                      f"`forwarded`: in the kernel, `pass_*`: up to the agent, and why): {kernel}.", ""]

    # ---- descriptors and memory -----------------------------------------------------------------

    def resources_section(self):
        samples = self.run["samples"]
        out = ["## Daemons: descriptors and memory after warm-up", "",
               f"Sampled every 5 s; the first {WARM_UP} s of each instance are its warm-up.  A relay's descriptors "
               f"are shown as they are and without its calls' sockets ({FDS_A_CALL} a call): what remains should "
               f"not grow.  Flat: the second half of the samples after warm-up peaks at most {FD_SLACK} "
               f"descriptors and {RSS_SLACK >> 20} MiB ({RSS_SLACK_SHARE:.0%}) above the first half"
               + (" (RSS not judged here: AddressSanitizer's quarantine fills for minutes; LeakSanitizer reports "
                  "leaks at each exit)" if self.run["sanitize"] else "") + ".", "",
               "| daemon | pid | from-to (s) | exit | samples | descriptors | without calls | RSS (MiB) | flat |",
               "|---|---|---|---|---|---|---|---|---|"]
        for name, instances in self.run["instances"].items():
            for inst in instances:
                mine = [s for s in samples if s["pid"] == inst["pid"]]
                after = [s for s in mine if s["t"] >= inst["started"] + WARM_UP and
                         (name == "dispatcher" or s["sessions"] is not None)]
                ended = inst["ended"] or (mine[-1]["t"] if mine else inst["started"])
                row = (f"| {name} | {inst['pid']} | {max(0, self.rel(inst['started'])):.0f}-{self.rel(ended):.0f} "
                       f"| {inst.get('status', '-')} | {len(after)} |")
                if len(after) < 6:
                    out.append(row + " | | | too short to tell |")
                    continue
                fds = [s["fds"] for s in after]
                base = [s["fds"] - FDS_A_CALL * (s["sessions"] or 0) for s in after]
                rss = [s["rss"] for s in after]
                # under ASan the RSS holds its quarantine, which fills for minutes: leaks show at exit instead
                flat = not grows(base, FD_SLACK) and (self.run["sanitize"] or
                                                      not grows(rss, max(RSS_SLACK, RSS_SLACK_SHARE * max(rss))))
                self.check(flat, f"{name} (pid {inst['pid']}) grows after warm-up")
                half = len(after) // 2
                out.append(row + f" {min(fds)}-{max(fds)} | {min(base)}-{max(base)} | "
                                 f"{min(rss) / 2**20:.1f}-{max(rss) / 2**20:.1f} | {'yes' if flat else '**NO**'} "
                                 f"(peaks {max(base[:half])} then {max(base[half:])}; "
                                 f"{max(rss[:half]) / 2**20:.1f} then {max(rss[half:]) / 2**20:.1f} MiB) |")
        with open(f"{self.work}/samples.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["seconds", "daemon", "pid", "fds", "rss_bytes", "relay_sessions"])
            for s in samples:
                w.writerow([f"{self.rel(s['t']):.1f}", s["daemon"], s["pid"], s["fds"], s["rss"],
                            "" if s["sessions"] is None else s["sessions"]])
        left = self.run["sessions_left"]
        return out + ["", f"* Sessions the relays still held {self.run['stream_timeout'] + 40} s after the last "
                      f"call, when every one should have timed out: {len(left)} "
                      f"{self.check(not left, 'sessions left on the relays')}"
                      + "".join(f"; {s['call_id']} ({self.session_story(s)})" for s in left)
                      + ".  All samples: `samples.csv`.", ""]

    def session_story(self, s):
        n = int(s["call_id"][len("cpload-"):])
        relay, (t, result, _) = self.relay_of(n), self.calls[n].get("remove", (None, "none", ""))
        return (f"its remove: {result}, on {self.context(t, relay) if t else relay}; at the relay "
                f"{s['duration']} s old, streams {', '.join(s['streams']) or 'none'}")

    # ---- sanitizers and logs -----------------------------------------------------------------------

    def sanitizer_section(self):
        out = ["## Sanitizer reports", ""]
        if not self.run["sanitize"]:
            return out + ["Plain build: none possible (`make soak SANITIZE=1` runs the sanitizer build).", ""]
        reports = sorted(glob.glob(f"{self.work}/sanitizer/*"))
        return out + [f"{len(reports)} {self.check(not reports, 'sanitizer reports')}"
                      + "".join(f"\n* `{r}`: {first_error(r)}" for r in reports), ""]

    def log_section(self):
        out = ["## Warnings and errors the daemons logged, by kind", "",
               "| daemon | count | line (numbers as N) |", "|---|---|---|"]
        for path in sorted(glob.glob(f"{self.work}/*.log")):
            name = os.path.basename(path)[:-4]
            if not name.startswith(("dispatcher", "relay")):
                continue
            kinds = collections.Counter()
            for line in open(path, errors="replace"):
                m = re.search(r" (WARNING|ERROR|CRITICAL): (.*)", line)
                if m:
                    kinds[re.sub(r"\d+", "N", f"{m.group(1)}: {m.group(2)}")[:140]] += 1
            out += [f"| {name} | {n} | {kind.replace('|', '/')} |" for kind, n in kinds.most_common(12)]
        ended = sum(1 for line in open(f"{self.work}/kamailio-rpc.log") if "end_dlg" in line)
        with_dialog = sum(1 for _, timed_out, dialog in self.run["rows"] if timed_out and dialog)
        return out + ["", f"* Dialogs the dispatcher asked the proxy to end: {ended} (rows of timed-out calls with "
                      f"a dialog id: {with_dialog}; sessions a relay no longer had when it connected again: "
                      f"{self.dispatcher_log_counts()['forgotten']}).", ""]

    def write(self):
        r = self.run
        tiers = ", ".join(f"relay{i} {t}" for i, t in r["tiers"].items())
        head = [f"# Soak: {r['minutes']:g} minutes, {'sanitizer' if r['sanitize'] else 'plain'} build", "",
                f"{r['rate']} calls/s through the dispatcher's proxy socket ({r['connections']} connections), each "
                f"held {r['hold']} s; three relays ({tiers}); every {r['media_every']}th call with RTP both ways for "
                f"{r['media_seconds']} s; accounting into PostgreSQL; the relays' stream timeouts "
                f"{r['stream_timeout']} s.", ""]
        body = (self.calls_section() + self.accounting_section() + self.failures_section() + self.media_section()
                + self.resources_section() + self.sanitizer_section() + self.log_section())
        verdict = ["**Result: " + ("every check passed**" if not self.failed_checks else
                                   "FAILED**: " + "; ".join(self.failed_checks)), ""]
        text = "\n".join(head + verdict + body)
        with open(f"{self.work}/report.md", "w") as f:
            f.write(text)
        print(text)
        return not self.failed_checks


def latency(cpload, request):
    ms = cpload[f"{request}_ms"]
    return f"{request} p50 {ms['p50']:.2f} ms, p99 {ms['p99']:.2f} ms, p99.9 {ms['p99.9']:.2f} ms"


def grows(values, slack):
    """The second half's peak is more than `slack` above the first half's."""
    half = len(values) // 2
    return max(values[half:]) - max(values[:half]) > slack


def first_error(path):
    for line in open(path, errors="replace"):
        if "ERROR" in line or "runtime error" in line:
            return line.strip()[:200]
    return ""


def main(work):
    return 0 if Run(work).write() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
