package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

func markdown(mgrs []*manager, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# tsm beside its peers, one run\n\n")
	fmt.Fprintf(&b, "Produced by `bench/compare.sh` on %s: %d CPUs, Linux %s, %d foreign `sleep` processes on the machine throughout, %d list calls per cell. Every 10th managed process is `python3 -m http.server`, the rest `sleep 100000`. Managers measured interleaved; cells are medians (p90, min–max) in ms.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), numCPU(), kernel(), *foreign, *runs)
	b.WriteString("| manager | version |\n|---|---|\n")
	for _, m := range mgrs {
		fmt.Fprintf(&b, "| %s | %s |\n", m.Name, m.Version)
	}
	b.WriteString("\n| N | manager | list | start (port-less), CLI returns | start --no-wait (port-less), CLI returns | server: CLI returns after port opened | crash → new instance | stop all: CLI / all gone | daemon RSS MiB | cold start | logs -f catch-up, 50 MB burst |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %.0f / %s | %.1f | %s | %s |\n", r.N, r.Manager, fmtStat(r.List), fmtStat(r.Start), fmtStat(r.NoWait), fmtStat(r.Server),
			fmtStat(r.Crash), med(r.StopCLI), fmtStat(r.StopAll), float64(r.RSSKiB)/1024, fmtStat(r.Cold), fmtStat(r.CatchUp))
	}
	b.WriteString("\n## Ratios: peer ÷ tsm (above 1: tsm is faster)\n\n")
	var tsmName string
	for _, m := range mgrs {
		if strings.HasPrefix(m.Name, "tsm") {
			tsmName = m.Name // the last tsm given: the one under test
		}
	}
	b.WriteString("| N | peer | list | start | crash | stop all (gone) | RSS | cold start | logs -f catch-up |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		if r.Manager == tsmName {
			continue
		}
		i := slices.IndexFunc(rows, func(t row) bool { return t.Manager == tsmName && t.N == r.N })
		if i < 0 {
			continue
		}
		t := rows[i]
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.N, r.Manager, ratio(med(r.List), med(t.List)), ratio(med(r.Start), med(t.Start)),
			ratio(med(r.Crash), med(t.Crash)), ratio(med(r.StopAll), med(t.StopAll)), ratio(float64(r.RSSKiB), float64(t.RSSKiB)), ratio(med(r.Cold), med(t.Cold)), ratio(med(r.CatchUp), med(t.CatchUp)))
	}
	fmt.Fprintf(&b, "\nServer: negative means the CLI returned before the port accepted connections. Stop all: %d samples per cell, each manager brought up afresh between them; the CLI column is the median; process-compose's names every process (`process stop p000 …`). Crash: SIGKILL to a managed `sleep` until the manager runs a new one (found by listing /proc, about 1 ms per look; from N=10). Start --no-wait: tsm only (no peer has such a start; their plain start is the column before). logs -f catch-up, at the first N only: a managed bench/logsf writes 50 MB of numbered 40-byte lines in 1 MiB writes while the manager's follow command runs (`tsm logs -f`, `pm2 logs --raw`, `supervisorctl tail -f`, `process-compose process logs -f`); ms from the end of the writes until the follower printed the last line; empty where it did not within 15 s (stderr says why).\n\n![list and stop-all against N](scaling.svg)\n", max(*stops, 1))
	return b.String()
}

func med(s *stat) float64 {
	if s == nil {
		return math.NaN()
	}
	return s.Median
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 || a == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

// plot draws list latency and stop-all time against N, log-log, one line
// per manager.
func plot(mgrs []*manager, rows []row) string {
	const w, h, pad = 440, 300, 50
	colors := []string{"#888", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", 2*w, h+20*len(mgrs)+10)
	panel := func(x0 int, title string, val func(row) float64) {
		fmt.Fprintf(&b, `<text x="%d" y="15" font-size="13">%s</text>`+"\n", x0+pad, title)
		xs := func(n int) float64 {
			return float64(x0+pad) + math.Log10(float64(n)+1)/math.Log10(1001)*float64(w-2*pad)
		}
		ys := func(v float64) float64 {
			return float64(h-pad) - (math.Log10(math.Max(v, 0.1))+1)/5*float64(h-2*pad) // 0.1 ms … 10 s
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>`+"\n", x0+pad, pad, w-2*pad, h-2*pad)
		for _, n := range []int{0, 10, 100, 1000} {
			fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%d</text>`+"\n", xs(n), h-pad+15, n)
		}
		for _, v := range []float64{1, 10, 100, 1000, 10000} {
			fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%g ms</text><line x1="%d" x2="%d" y1="%.0f" y2="%.0f" stroke="#eee"/>`+"\n",
				x0+pad-4, ys(v)+4, v, x0+pad, x0+w-pad, ys(v), ys(v))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">managed processes (N)</text>`+"\n", x0+w/2, h-pad+30)
		for i, m := range mgrs {
			var pts []string
			for _, r := range rows {
				if r.Manager == m.Name && !math.IsNaN(val(r)) && val(r) > 0 {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", xs(r.N), ys(val(r))))
				}
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke-width="2" stroke="%s" points="%s"/>`+"\n", colors[i%len(colors)], strings.Join(pts, " "))
		}
	}
	panel(0, "list, median (ms, log)", func(r row) float64 { return med(r.List) })
	panel(w, "stop all, until none left (ms, log)", func(r row) float64 { return med(r.StopAll) })
	for i, m := range mgrs {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/><text x="%d" y="%d">%s %s</text>`+"\n",
			pad, h+10+20*i, colors[i%len(colors)], pad+18, h+15+20*i, m.Name, m.Version)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
