package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// target is a DESIGN.md "Performance targets" line: throughput against plain
// reverse_proxy in the same run, and for Redis the p99 latency added.
type target struct {
	minRatio    float64
	maxP99Added time.Duration // 0: no latency target
}

var targets = map[string]target{
	scUnprotected: {minRatio: 0.97},
	scProtMemory:  {minRatio: 0.95},
	scProtRedis:   {minRatio: 0.90, maxP99Added: time.Millisecond},
	scUnprotBound: {minRatio: 0.90},
	// issue 16: 100,000 users active at once, each request from one of them.
	scProtRedisMany: {minRatio: 0.90, maxP99Added: time.Millisecond},
}

func (t target) String() string {
	s := fmt.Sprintf("ratio >= %.2f", t.minRatio)
	if t.maxP99Added > 0 {
		s += fmt.Sprintf(", p99 added <= %dus", t.maxP99Added.Microseconds())
	}
	return s
}

// verdict says whether r meets its target: "ok", "MISS (...)", or "" without one.
func verdict(r *ScenarioResult) string {
	t, ok := targets[r.Name]
	if !ok || len(r.Rounds) == 0 {
		return ""
	}
	if r.Errors > 0 {
		return "INVALID (errors)"
	}
	var miss []string
	if r.Ratio < t.minRatio {
		miss = append(miss, "ratio")
	}
	if t.maxP99Added > 0 && r.P99Added > t.maxP99Added {
		miss = append(miss, "p99")
	}
	if len(miss) > 0 {
		return "MISS (" + strings.Join(miss, ", ") + ")"
	}
	return "ok"
}

// cpuVerdict applies the throughput target to the CPU-cost ratio.
func cpuVerdict(r *ScenarioResult) string {
	t, ok := targets[r.Name]
	switch {
	case !ok || len(r.Rounds) == 0:
		return ""
	case r.CPURatio == 0:
		return "n/a"
	case r.CPURatio < t.minRatio:
		return "MISS"
	}
	return "ok"
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }

func printReport(out io.Writer, rep *Report, o Options, e *env) {
	fmt.Fprintf(out, "\nmedians over %d round(s); ratio and p99 added are taken per round against plain in the same round, then the median\n\n", o.Rounds)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tratio\tp50 us\tp99 us\tp99 added us\terrors\t  target\t  verdict\tcpu us/req\tcpu ratio\t  cpu verdict\t")
	for _, r := range rep.Scenarios {
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t  %s\t  SKIPPED\t-\t-\t  -\t\n", r.Name, targetText(r.Name))
			continue
		}
		ratio, added, cpuRatio := fmt.Sprintf("%.3f", r.Ratio), us(r.P99Added), fmt.Sprintf("%.3f", r.CPURatio)
		if r.Name == scPlain {
			ratio, added, cpuRatio = "1 (base)", "-", "1 (base)"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%d\t  %s\t  %s\t%.1f\t%s\t  %s\t\n",
			r.Name, r.RPS, ratio, us(r.P50), us(r.P99), added, r.Errors, targetText(r.Name), verdict(r),
			float64(r.CPUPerReq)/float64(time.Microsecond), cpuRatio, cpuVerdict(r))
	}
	tw.Flush()
	fmt.Fprintln(out, "\nverdict: DESIGN.md targets on throughput (and p99 for Redis). cpu verdict: the same ratio on CPU time per request\n(process + private redis-server), which other work on the machine disturbs much less; trust it when the run is noisy.")

	fmt.Fprintln(out, "\nper round (req/s, ratio vs plain, p99 us, cpu us/req):")
	plain := rep.Get(scPlain)
	for _, r := range rep.Scenarios {
		if len(r.Rounds) == 0 {
			continue
		}
		var parts []string
		truncated := false
		for i, seg := range r.Rounds {
			ratio := 1.0
			if plain != nil && i < len(plain.Rounds) && plain.Rounds[i].RPS > 0 {
				ratio = seg.RPS / plain.Rounds[i].RPS
			}
			parts = append(parts, fmt.Sprintf("%.0f %.3f %s %.1f", seg.RPS, ratio, us(seg.P99), float64(seg.CPUPerReq)/float64(time.Microsecond)))
			truncated = truncated || seg.Truncated
		}
		note := ""
		if r.Name == scProtRedis || r.Name == scProtRedisMany {
			var child []time.Duration
			for _, seg := range r.Rounds {
				if seg.RPS > 0 {
					child = append(child, time.Duration(float64(seg.ChildCPU)/(seg.RPS*seg.Elapsed.Seconds())))
				}
			}
			if m := median(child); m > 0 {
				note += fmt.Sprintf("  (of which redis-server %.1f us/req)", float64(m)/float64(time.Microsecond))
			}
		}
		if r.LiveHits >= 0 {
			var hits []string
			for _, seg := range r.Rounds {
				if seg.Scripts >= 0 && seg.Requests > 0 {
					hits = append(hits, fmt.Sprintf("%.1f%%", 100*max(0, 1-float64(seg.Scripts)/float64(seg.Requests))))
				}
			}
			note += "  (live cache answered " + strings.Join(hits, ", ") + " of requests)"
		}
		if truncated {
			note += "  (latency samples truncated: buffer full)"
		}
		fmt.Fprintf(out, "  %-23s %s%s\n", r.Name, strings.Join(parts, " | "), note)
	}

	for _, r := range rep.Scenarios {
		if r.FirstSight != nil {
			printFirstSight(out, r, plain)
		}
	}

	for _, r := range rep.Scenarios {
		if r.Skipped != "" {
			fmt.Fprintf(out, "\n%s skipped: %s\n", r.Name, r.Skipped)
		}
		if r.Errors == 0 {
			continue
		}
		fmt.Fprintf(out, "\n%s: %d failed requests:\n", r.Name, r.Errors)
		kinds := make([]string, 0, len(r.ErrKinds))
		for k := range r.ErrKinds {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		for _, k := range kinds {
			fmt.Fprintf(out, "  %8d  %s\n", r.ErrKinds[k], k)
		}
	}
	if plain != nil && len(plain.Rounds) > 1 {
		lo, hi := plain.Rounds[0].RPS, plain.Rounds[0].RPS
		for _, seg := range plain.Rounds {
			lo, hi = min(lo, seg.RPS), max(hi, seg.RPS)
		}
		if spread := (hi - lo) / hi; spread > 0.10 {
			fmt.Fprintf(out, "\nWARNING: plain varied by %.0f%% between rounds (%.0f to %.0f req/s): the machine is busy or throttled; ratios are unreliable, rerun with more -rounds on a quiet machine\n", spread*100, lo, hi)
		}
	}
	fmt.Fprintf(out, "\nclosed loop, %d keep-alive connections; load generator, Caddy and the upstream share this machine's CPUs, so ratios are of end-to-end throughput.\n", o.Conns)
	if e != nil && e.redis != nil {
		shared := ""
		if e.redis.cmd == nil {
			shared = " (shared server: its CPU is not in cpu us/req)"
		}
		fmt.Fprintf(out, "redis: %s at %s%s\n", e.redis.origin, e.redis.addr, shared)
	}
}

// printFirstSight reports the pass in which every user made one request: what a
// user no cache knows costs (both tokens verified, Redis asked). There is no target:
// it is the price of the first request of a browser, paid once per user and instance.
func printFirstSight(out io.Writer, r *ScenarioResult, plain *ScenarioResult) {
	seg := r.FirstSight
	fmt.Fprintf(out, "\n%s, first sight: each user's first request, before the rounds (no cache knows the user: both tokens verified, Redis asked):\n", r.Name)
	line := fmt.Sprintf("  %d requests, %.0f req/s, p50 %s us, p99 %s us, cpu %.1f us/req", seg.Requests, seg.RPS, us(seg.P50), us(seg.P99), float64(seg.CPUPerReq)/float64(time.Microsecond))
	if seg.Requests > 0 && seg.ChildCPU > 0 {
		line += fmt.Sprintf(" (of which redis-server %.1f)", float64(seg.ChildCPU)/float64(time.Microsecond)/float64(seg.Requests))
	}
	if plain != nil && plain.RPS > 0 && seg.CPUPerReq > 0 {
		line += fmt.Sprintf("; against plain's medians: ratio %.3f, cpu ratio %.3f, p99 added %s us",
			seg.RPS/plain.RPS, float64(plain.CPUPerReq)/float64(seg.CPUPerReq), us(seg.P99-plain.P99))
	}
	if seg.Scripts >= 0 && seg.Requests > 0 {
		line += fmt.Sprintf("; live cache answered %.1f%%", 100*max(0, 1-float64(seg.Scripts)/float64(seg.Requests)))
	}
	fmt.Fprintln(out, line)
	if seg.Requests > 0 {
		fmt.Fprintf(out, "  the gateway's heap grew by %.1f MB over it, %d bytes per user (live cache and verified tokens)\n",
			float64(r.HeapGrowth)/1e6, r.HeapGrowth/seg.Requests)
	}
}

func targetText(name string) string {
	if t, ok := targets[name]; ok {
		return t.String()
	}
	return "-"
}
