package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// summarize takes, for every scenario and target, the median of each figure over the runs that
// succeeded, and the median over runs of the ratio of packets per CPU-second to the baseline's in
// the same run.
func summarize(results []*Result, scenarios, targets []string) []Summary {
	var out []Summary
	for _, sc := range scenarios {
		for _, tg := range targets {
			var rs []*Result
			for _, r := range results {
				if r.Scenario == sc && r.Target == tg && r.Error == "" {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			m := func(f func(*Result) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				return median(v)
			}
			s := Summary{Scenario: sc, Target: tg, Runs: len(rs)}
			s.Result = Result{Scenario: sc, Target: tg, Participants: rs[0].Participants, Publishers: rs[0].Publishers,
				Streams: rs[0].Streams, Joins: rs[0].Joins,
				Seconds:            m(func(r *Result) float64 { return r.Seconds }),
				SentPPS:            m(func(r *Result) float64 { return r.SentPPS }),
				ForwardedPPS:       m(func(r *Result) float64 { return r.ForwardedPPS }),
				ServerForwardedPPS: m(func(r *Result) float64 { return r.ServerForwardedPPS }),
				Loss:               m(func(r *Result) float64 { return r.Loss }),
				LatencyP50Ms:       m(func(r *Result) float64 { return r.LatencyP50Ms }),
				LatencyP99Ms:       m(func(r *Result) float64 { return r.LatencyP99Ms }),
				JoinP50Ms:          m(func(r *Result) float64 { return r.JoinP50Ms }),
				JoinP99Ms:          m(func(r *Result) float64 { return r.JoinP99Ms }),
				ServerCPUSeconds:   m(func(r *Result) float64 { return r.ServerCPUSeconds }),
				ServerCores:        m(func(r *Result) float64 { return r.ServerCores }),
				CPUPerPacketUs:     m(func(r *Result) float64 { return r.CPUPerPacketUs }),
				PacketsPerCoreSec:  m(func(r *Result) float64 { return r.PacketsPerCoreSec }),
				LoadGenCores:       m(func(r *Result) float64 { return r.LoadGenCores }),
				MachineBusy:        m(func(r *Result) float64 { return r.MachineBusy }),
				OtherBusy:          m(func(r *Result) float64 { return r.OtherBusy }),
			}
			if tg != "baseline" {
				var ratios []float64
				for _, r := range rs {
					for _, b := range results {
						if b.Scenario == sc && b.Target == "baseline" && b.Run == r.Run && b.Error == "" && b.PacketsPerCoreSec > 0 {
							ratios = append(ratios, r.PacketsPerCoreSec/b.PacketsPerCoreSec)
						}
					}
				}
				s.RatioToBaseline = median(ratios)
			}
			out = append(out, s)
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// WriteTable prints the summary as a table, then the errors of failed runs.
func (rep *Report) WriteTable(w io.Writer) {
	o := rep.Options
	fmt.Fprintf(w, "SFU bench: video %d fps x %d packets x %d B, audio 50 pkt/s x %d B; window %s",
		o.VideoFPS, o.PacketsPerFrame, o.VideoPayload, o.AudioPayload, o.Duration)
	if o.Runs > 1 {
		fmt.Fprintf(w, "; medians of %d runs", o.Runs)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tserver\truns\tparticipants\tstreams\tsent pkt/s\tforwarded pkt/s\t(server count)\tloss\tlatency p50\tp99\tjoin p50\tp99\tserver cores\tCPU µs/pkt\tpkt/s per core\tvs baseline\tloadgen cores\tmachine busy\tof which others\t")
	for _, s := range rep.Summary {
		ratio := ""
		if s.RatioToBaseline > 0 {
			ratio = fmt.Sprintf("%.2fx", s.RatioToBaseline)
		}
		join, join99 := "-", "-"
		if s.Joins > 0 {
			join, join99 = fmt.Sprintf("%.0f ms", s.JoinP50Ms), fmt.Sprintf("%.0f ms", s.JoinP99Ms)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.2f%%\t%.2f ms\t%.2f ms\t%s\t%s\t%.2f\t%.2f\t%.0f\t%s\t%.2f\t%.0f%%\t%.0f%%\t\n",
			s.Scenario, s.Target, s.Runs, o.Runs, s.Participants, s.Streams, s.SentPPS, s.ForwardedPPS, s.ServerForwardedPPS,
			100*s.Loss, s.LatencyP50Ms, s.LatencyP99Ms, join, join99, s.ServerCores, s.CPUPerPacketUs,
			s.PacketsPerCoreSec, ratio, s.LoadGenCores, 100*s.MachineBusy, 100*s.OtherBusy)
	}
	tw.Flush()
	var errs []string
	for _, r := range rep.Results {
		if r.Error != "" {
			errs = append(errs, fmt.Sprintf("  %s/%s run %d: %s", r.Scenario, r.Target, r.Run, r.Error))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "failed:\n%s\n", strings.Join(errs, "\n"))
	}
}
