package peer

import "testing"

func TestScoreQuality(t *testing.T) {
	for _, tt := range []struct {
		loss, rtt float64
		want      string
	}{
		{0, 0.02, QualityGood},
		{0.02, 0.1, QualityGood},
		{0.05, 0.1, QualityFair},
		{0, 0.3, QualityFair},
		{0.2, 0.05, QualityPoor},
		{0, 0.8, QualityPoor},
		{1, 0, QualityPoor},
	} {
		if got := scoreQuality(tt.loss, tt.rtt); got != tt.want {
			t.Errorf("scoreQuality(%v, %v) = %s, want %s", tt.loss, tt.rtt, got, tt.want)
		}
	}
}
