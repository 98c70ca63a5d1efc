package bench

import (
	"math/bits"
	"sync/atomic"
)

// hist is a log-linear histogram of microsecond values with about 3% resolution, safe for
// concurrent recording (atomic buckets, no locks, no allocation per value).
type hist struct {
	buckets [histBuckets]atomic.Uint64
}

const (
	histSubBits = 5 // 32 buckets per power of two
	histLinear  = 2 << histSubBits
	histBuckets = histLinear + 40<<histSubBits
)

func histIndex(v uint64) int {
	if v < histLinear {
		return int(v)
	}
	e := bits.Len64(v) - (histSubBits + 1) // v>>e is in [32, 64)
	i := histLinear + (e-1)<<histSubBits + int(v>>e) - 1<<histSubBits
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histValue is the middle of bucket i.
func histValue(i int) float64 {
	if i < histLinear {
		return float64(i)
	}
	e := (i-histLinear)>>histSubBits + 1
	sub := uint64((i-histLinear)&(1<<histSubBits-1)) + 1<<histSubBits
	lo := sub << e
	return float64(lo) + float64(uint64(1)<<e)/2
}

func (h *hist) record(us uint64) { h.buckets[histIndex(us)].Add(1) }

// addTo accumulates h into counts.
func (h *hist) addTo(counts []uint64) {
	for i := range h.buckets {
		counts[i] += h.buckets[i].Load()
	}
}

// quantile returns the q-quantile (0..1) of counts, or 0 when empty.
func quantile(counts []uint64, q float64) float64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return histValue(i)
		}
	}
	return histValue(len(counts) - 1)
}
