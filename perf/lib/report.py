#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Turn what perf/run's guests wrote into tables, goals and plots.

    report.py RAWDIR OUTDIR

RAWDIR is perf/run's raw/ directory (vm1/results and, with a second guest
pair, vm2/results). Writes to OUTDIR: matrix.csv, fault.csv, pool.csv,
migrate.csv, goals.csv, report.md and plots/*.png (gnuplot), and prints
report.md. Checks that every input is well formed on the way; exits 1 when
something is missing or malformed, 0 otherwise (a missed goal is a
result, not an error).
"""

import csv
import os
import re
import shutil
import subprocess
import sys

MATRIX_FIELDS = ["setup", "device", "mode", "tool", "size", "iterations",
                 "metric", "value", "p99", "status", "retries",
                 "page_faults",
                 "page_prefetch", "pool_staged", "pool_hits"]
MODES = ["pinned", "odp-cold", "odp-warm", "odp-prefetch", "odp-implicit",
         "odp-staged"]
TOOLS = ["ib_write_bw", "ib_read_bw", "ib_send_bw", "ib_write_lat",
         "ib_read_lat", "ib_send_lat"]
MIGRATE_FIELDS = ["second", "rdma_mb_s", "moved", "staged", "evicted",
                  "migrate_to_ram", "page_faults", "invalidations",
                  "churned"]

errors = []


def error(msg):
    errors.append(msg)
    print("report: " + msg, file=sys.stderr)


def number(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def read_matrix(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != MATRIX_FIELDS:
            error("%s: unexpected header %s" % (path, header))
            return rows
        for n, rec in enumerate(reader, 2):
            if len(rec) != len(MATRIX_FIELDS):
                error("%s:%d: %d fields, not %d" %
                      (path, n, len(rec), len(MATRIX_FIELDS)))
                continue
            row = dict(zip(MATRIX_FIELDS, rec))
            if row["status"] == "ok":
                if number(row["value"]) is None or number(row["value"]) <= 0:
                    error("%s:%d: no value" % (path, n))
                    continue
            else:
                error("%s:%d: %s %s %s %s failed" %
                      (path, n, row["device"], row["mode"], row["tool"],
                       row["size"]))
            rows.append(row)
    return rows


def check_counters(rows):
    """The counters must agree with what each memory mode is."""
    for r in rows:
        if r["device"].startswith("rxe") or r["status"] != "ok":
            continue
        pf, pre = number(r["page_faults"]), number(r["page_prefetch"])
        what = "%s %s %s %s" % (r["setup"], r["mode"], r["tool"], r["size"])
        if pf is None or pre is None:
            error("%s: no page_faults/page_prefetch counters" % what)
            continue
        mode = r["mode"]
        if mode == "pinned" and (pf or pre):
            error("%s: pinned memory counted %d faults" % (what, pf))
        if mode in ("odp-cold", "odp-implicit", "odp-staged") and \
                (not pf or pre):
            error("%s: %d faults and %d prefetched pages; want faults "
                  "and no prefetch" % (what, pf, pre))
        if mode == "odp-warm" and (not pre or pf > pre):
            error("%s: %d faults beyond the %d prefetched pages" %
                  (what, pf, pre))
        if mode == "odp-prefetch" and not pre:
            error("%s: nothing prefetched" % what)


def tagged_lines(path, tags):
    """The words of each line of @path whose first word is in @tags."""
    if not os.path.exists(path):
        error("%s is missing" % path)
        return
    with open(path) as f:
        for line in f:
            words = line.split()
            if words and words[0] in tags:
                yield words


def parse_kv(path, tag):
    """Lines "TAG k=v k=v ..." of a fault-cost output, as dicts."""
    return [dict(w.split("=", 1) for w in words[1:] if "=" in w)
            for words in tagged_lines(path, (tag,))]


def parse_pool(path):
    """"RATIO name v" and "BW|STAGE k v k v" lines of pool-cost."""
    vals = {}
    for words in tagged_lines(path, ("RATIO", "BW", "STAGE")):
        for k, v in zip(words[1::2], words[2::2]):
            if number(v) is not None:
                vals[k] = float(v)
    return vals


def pick(rows, setup, device, mode, tool, size):
    """A cell's value: the median of its successful runs."""
    vals = sorted(float(r["value"]) for r in rows
                  if (r["setup"], r["device"], r["mode"], r["tool"],
                      r["size"]) == (setup, device, mode, tool, str(size))
                  and r["status"] == "ok")
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


def fmt(v, digits=2):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.*f" % (digits, v)


def goals_table(rows, fault, fault_ratios, pool):
    dists = {d["name"]: d for d in fault}
    ratios = {r["name"]: float(r["value"]) for r in fault_ratios}

    def ratio(a, b):
        return a / b if a is not None and b else None

    out = []

    def goal(gid, metric, measured, reference, value, op, target):
        met = None
        if value is not None:
            met = value >= target if op == ">=" else value <= target
        out.append({"goal": gid, "metric": metric,
                    "measured": measured, "reference": reference,
                    "ratio": value, "target": "%s %s" % (op, target),
                    "met": "-" if met is None else ("yes" if met else "no")})

    pin = pick(rows, "loopback", "hmmnic0", "pinned", "ib_write_bw", 65536)
    warm = pick(rows, "loopback", "hmmnic0", "odp-warm", "ib_write_bw", 65536)
    goal("P1", "ib_write_bw 64 KiB MB/s, ODP warm / pinned (hmmnic0)",
         warm, pin, ratio(warm, pin), ">=", 0.97)
    goal("P1'", "1 MiB RDMA WRITE, warm ODP / pinned as bandwidth "
         "(fault-cost, ns)",
         num(dists, "write_1m_warm_odp", "p50"),
         num(dists, "write_1m_pinned", "p50"),
         ratios.get("p1_warm_odp_vs_pinned_bw"), ">=", 0.97)
    rxe = pick(rows, "loopback", "rxe0", "pinned", "ib_write_bw", 65536)
    goal("P2", "ib_write_bw 64 KiB MB/s, hmmnic0 / rxe0 (loopback)",
         pin, rxe, ratio(pin, rxe), ">=", 1.5)
    h2 = pick(rows, "two-guest", "hmmnic0", "pinned", "ib_write_bw", 65536)
    r2 = pick(rows, "two-guest", "rxe0", "pinned", "ib_write_bw", 65536)
    if h2 is not None or r2 is not None:
        goal("P2'", "ib_write_bw 64 KiB MB/s, hmmnic0 / rxe0 (two guests)",
             h2, r2, ratio(h2, r2), ">=", 1.5)
    hl = pick(rows, "loopback", "hmmnic0", "pinned", "ib_send_lat", 8)
    rl = pick(rows, "loopback", "rxe0", "pinned", "ib_send_lat", 8)
    goal("P3", "ib_send_lat 8 B usec (median), hmmnic0 / rxe0 (loopback)",
         hl, rl, ratio(hl, rl), "<=", 0.7)
    hl2 = pick(rows, "two-guest", "hmmnic0", "pinned", "ib_send_lat", 8)
    rl2 = pick(rows, "two-guest", "rxe0", "pinned", "ib_send_lat", 8)
    if hl2 is not None or rl2 is not None:
        goal("P3'", "ib_send_lat 8 B usec (median), hmmnic0 / rxe0 "
             "(two guests)", hl2, rl2, ratio(hl2, rl2), "<=", 0.7)
    cpu = num(dists, "cpu_4k", "p50")
    goal("P4", "first touch ns per 4 KiB page (p50), responder (sync) / "
         "CPU minor fault", num(dists, "responder_sync_4k", "p50"), cpu,
         ratios.get("p4_responder_vs_cpu"), "<=", 3)
    goal("P4'", "first touch ns per 4 KiB page (p50), requester / CPU "
         "minor fault", num(dists, "requester_4k", "p50"), cpu,
         ratios.get("p4_requester_vs_cpu"), "<=", 3)
    goal("P5", "RDMA READ MiB/s, staged / system pages (pool-cost)",
         pool.get("staged_read_mib_s"), pool.get("system_read_mib_s"),
         pool.get("staged_read_bw_vs_system"), ">=", 1.0)
    goal("P6", "staging pages/s, hmmnic (batch 64) / test_hmm dmirror",
         pool.get("hmmnic_b64_pages_s"), pool.get("dmirror_pages_s"),
         pool.get("stage_vs_dmirror"), ">=", 1.0)
    for g in out:
        if g["ratio"] is None:
            error("goal %s (%s) could not be computed" %
                  (g["goal"], g["metric"]))
    return out


def num(dists, name, key):
    d = dists.get(name)
    return float(d[key]) if d and key in d else None



def write_csv(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def gnuplot(script):
    p = subprocess.run(["gnuplot"], input=script, text=True,
                       capture_output=True)
    if p.returncode:
        error("gnuplot failed: " + p.stderr.strip())


def size_label(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div and n % div == 0:
            return "%d %s" % (n // div, unit)
    return "%d B" % n


def plot_matrix(rows, plots):
    made = []
    series = [("loopback", "hmmnic0", m, "hmmnic " + m) for m in MODES] + \
             [("loopback", "rxe0", "pinned", "rxe pinned"),
              ("two-guest", "hmmnic0", "pinned", "hmmnic, two guests"),
              ("two-guest", "rxe0", "pinned", "rxe, two guests")]
    for tool in TOOLS:
        lines = []
        for setup, dev, mode, title in series:
            sizes = sorted({int(r["size"]) for r in rows
                            if (r["setup"], r["device"], r["mode"],
                                r["tool"]) == (setup, dev, mode, tool)})
            pts = [(sz, v) for sz, v in
                   ((sz, pick(rows, setup, dev, mode, tool, sz))
                    for sz in sizes) if v is not None]
            if pts:
                lines.append((title, pts))
        if not lines:
            continue
        bw = tool.endswith("_bw")
        png = os.path.join(plots, "matrix-%s.png" % tool)
        s = ["set terminal pngcairo size 900,560 noenhanced",
             "set output '%s'" % png,
             "set title '%s: %s by message size (TCG guest)'" %
             (tool, "bandwidth" if bw else "median latency"),
             "set logscale x 2",
             "set xtics (%s)" % ", ".join(
                 "'%s' %d" % (size_label(sz), sz)
                 for sz in sorted({p[0] for _, pts in lines for p in pts})),
             "set xlabel 'message size'",
             "set ylabel '%s'" % ("MB/s" if bw else "usec"),
             "set key outside right", "set grid",
             # bandwidth spans three decades from 8 B to 1 MiB
             "set logscale y"]
        s.append("plot " + ", ".join(
            "'-' using 1:2 with linespoints title '%s'" % t
            for t, _ in lines))
        for _, pts in lines:
            s += ["%d %g" % p for p in pts] + ["e"]
        gnuplot("\n".join(s) + "\n")
        made.append(png)
    return made


def plot_fault(fault, plots):
    if not fault:
        return []
    png = os.path.join(plots, "fault-cost.png")
    s = ["set terminal pngcairo size 900,560 noenhanced",
         "set output '%s'" % png,
         "set title 'Fault costs per page, ns (p50 and p99, TCG guest)'",
         "set style data histograms", "set style histogram clustered",
         "set style fill solid 0.7", "set logscale y", "set grid ytics",
         "set xtics rotate by -35", "set ylabel 'ns per page'",
         "set bmargin 9", "set key outside right top",
         "plot '-' using 2:xtic(1) title 'p50', '' using 3 title 'p99'"]
    body = ["%s %s %s" % (d["name"], d["p50"], d["p99"]) for d in fault
            if not d["name"].startswith("write_1m")]
    s += body + ["e"] + body + ["e"]
    gnuplot("\n".join(s) + "\n")
    return [png]


def plot_migrate(mig, plots):
    if not mig:
        return []
    png = os.path.join(plots, "migrate-load.png")
    data = ["%s %s %s %s %s" % (r["second"], r["rdma_mb_s"], r["moved"],
                                r["migrate_to_ram"], r["staged"])
            for r in mig]
    s = ["set terminal pngcairo size 900,560 noenhanced",
         "set output '%s'" % png,
         "set title 'RDMA traffic (every byte verified) while the CPU side "
         "migrates the same memory'",
         "set xlabel 'seconds'", "set ylabel 'verified RDMA MB/s'",
         "set y2label 'pages per second'", "set y2tics", "set ytics nomirror",
         "set key outside bottom center horizontal", "set grid",
         "plot '-' using 1:2 with lines lw 2 title 'RDMA MB/s', "
         "'-' using 1:3 axes x1y2 with lines title 'moved (move_pages)', "
         "'-' using 1:4 axes x1y2 with lines title 'migrate_to_ram', "
         "'-' using 1:5 axes x1y2 with lines title 'staged'"]
    for _ in range(4):
        s += data + ["e"]
    gnuplot("\n".join(s) + "\n")
    return [png]


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    raw, outdir = sys.argv[1], sys.argv[2]
    vm1 = os.path.join(raw, "vm1", "results")
    vm2 = os.path.join(raw, "vm2", "results")
    plots = os.path.join(outdir, "plots")
    os.makedirs(plots, exist_ok=True)

    rows = read_matrix(os.path.join(vm1, "matrix-hmmnic.csv"))
    rxe = read_matrix(os.path.join(vm1, "matrix-rxe.csv"))
    two = read_matrix(os.path.join(vm2, "matrix-two.csv"))
    if not rows:
        error("no hmmnic0 matrix results")
    if not rxe:
        error("no rxe0 matrix results")
    rows += rxe + two
    check_counters(rows)
    write_csv(os.path.join(outdir, "matrix.csv"), MATRIX_FIELDS, rows)

    fault_path = os.path.join(vm1, "fault.txt")
    fault = parse_kv(fault_path, "dist")
    fault_ratios = parse_kv(fault_path, "ratio")
    for r in fault_ratios:
        if "name" not in r or number(r.get("value")) is None:
            error("fault-cost: malformed ratio %s" % r)
    fault_ratios = [r for r in fault_ratios
                    if "name" in r and number(r.get("value")) is not None]
    for d in fault:
        if number(d.get("p50")) is None or number(d.get("p99")) is None:
            error("fault-cost: malformed %s" % d)
        if "faults" in d and d["faults"] != d.get("traced"):
            error("fault-cost %s: %s faults counted, %s traced" %
                  (d.get("name"), d["faults"], d.get("traced")))
    want = ["cpu_4k", "cpu_2m", "responder_sync_4k", "responder_rnr_4k",
            "requester_4k", "responder_sync_2m", "responder_rnr_2m",
            "requester_2m", "munmap_odp", "munmap_plain", "migrate_to_ram",
            "write_1m_warm_odp", "write_1m_pinned"]
    have = [d.get("name") for d in fault]
    for w in want:
        if w not in have:
            error("fault-cost: no %s figure" % w)
    write_csv(os.path.join(outdir, "fault.csv"),
              ["name", "p50", "p99", "samples", "faults", "traced",
               "kernel_p50", "kernel_p99", "in_post_p50"], fault)

    pool = parse_pool(os.path.join(vm1, "pool.txt"))
    with open(os.path.join(outdir, "pool.csv"), "w") as f:
        f.write("name,value\n")
        for k, v in sorted(pool.items()):
            f.write("%s,%g\n" % (k, v))

    mig = []
    mpath = os.path.join(vm1, "migrate.csv")
    if os.path.exists(mpath):
        with open(mpath, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != MIGRATE_FIELDS:
                error("%s: unexpected header %s" % (mpath, reader.fieldnames))
            else:
                for r in reader:
                    if any(number(r[k]) is None for k in MIGRATE_FIELDS):
                        error("%s: malformed row %s" % (mpath, r))
                        continue
                    mig.append(r)
        shutil.copy(mpath, os.path.join(outdir, "migrate.csv"))
    else:
        error("%s is missing" % mpath)
    msum = ""
    tpath = os.path.join(vm1, "migrate.txt")
    if os.path.exists(tpath):
        with open(tpath) as f:
            msum = " ".join(l.strip() for l in f if
                            l.startswith("migrate-load "))
        m = re.search(r"mismatches=(\d+)", msum)
        if not m:
            error("migrate-load printed no summary")
        elif m.group(1) != "0":
            error("migrate-load saw %s wrong words" % m.group(1))

    goals = goals_table(rows, fault, fault_ratios, pool)
    gfields = ["goal", "metric", "measured", "reference", "ratio", "target",
               "met"]
    write_csv(os.path.join(outdir, "goals.csv"), gfields, goals)

    pngs = plot_matrix(rows, plots) + plot_fault(fault, plots) + \
        plot_migrate(mig, plots)
    for p in pngs:
        if not os.path.exists(p) or os.path.getsize(p) < 1000:
            error("plot %s was not drawn" % p)

    retried = [r for r in rows if (number(r.get("retries")) or 0) > 0]
    md = ["# perf/run results", "",
          "Every figure comes from this one run; absolute numbers under "
          "TCG mean little, ratios a bit more. A cell run more than once "
          "(the goal cells) shows the median of its runs.", "",
          "perftest runs tried again because perftest itself reported "
          "inf, nan or 0 with both ends successful: %d of %d runs, "
          "%d retries in all%s." %
          (len(retried), len(rows),
           sum(int(number(r["retries"])) for r in retried),
           "".join("; %s %s %s %s" % (r["device"], r["mode"], r["tool"],
                                       r["size"]) for r in retried)), "",
          "## Goals", "",
          md_table(["goal", "metric", "measured", "reference", "ratio",
                    "target", "met"],
                   [[g["goal"], g["metric"], fmt(g["measured"]),
                     fmt(g["reference"]), fmt(g["ratio"], 3), g["target"],
                     g["met"]] for g in goals]), ""]
    for tool in TOOLS:
        trows = [r for r in rows if r["tool"] == tool]
        if not trows:
            continue
        cols = [(s, d, m) for s, d, m in
                [("loopback", "hmmnic0", m) for m in MODES] +
                [("loopback", "rxe0", "pinned"),
                 ("two-guest", "hmmnic0", "pinned"),
                 ("two-guest", "rxe0", "pinned")]
                if any((r["setup"], r["device"], r["mode"]) == (s, d, m)
                       for r in trows)]
        sizes = sorted({int(r["size"]) for r in trows})
        unit = "MB/s" if tool.endswith("_bw") else "usec, median"
        md += ["## %s (%s)" % (tool, unit), ""]
        hdr = ["size"] + ["%s %s%s" % ("hmmnic" if d == "hmmnic0" else "rxe",
                                      m, " (2 guests)" if s == "two-guest"
                                      else "") for s, d, m in cols]
        md.append(md_table(hdr, [[str(sz)] + [fmt(pick(rows, s, d, m, tool,
                                                      sz))
                                              for s, d, m in cols]
                                 for sz in sizes]))
        md.append("")
    if fault:
        md += ["## Fault costs (perf/fault-cost, ns per page)", "",
               md_table(["figure", "p50", "p99", "samples", "faults counted",
                         "faults traced", "kernel p50", "kernel p99",
                         "in post p50"],
                        [[d["name"], d["p50"], d["p99"], d["samples"],
                          d.get("faults", "-"), d.get("traced", "-"),
                          d.get("kernel_p50", "-"), d.get("kernel_p99", "-"),
                          d.get("in_post_p50", "-")]
                         for d in fault]), ""]
        md += ["Ratios: " + ", ".join(
            "%s %s" % (r["name"], r["value"])
            for r in fault_ratios), ""]
    if pool:
        md += ["## Pool (perf/pool-cost)", "",
               md_table(["figure", "value"],
                        [[k, "%g" % v] for k, v in sorted(pool.items())]),
               ""]
    if msum:
        md += ["## Migration under network load (perf/migrate-load)", "",
               "    " + msum, ""]
    md += ["## Plots", ""] + ["- plots/%s" % os.path.basename(p)
                              for p in pngs] + [""]
    if errors:
        md += ["## Problems", ""] + ["- " + e for e in errors] + [""]
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
