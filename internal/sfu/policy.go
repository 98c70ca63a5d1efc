package sfu

// MaxLayers is the number of simulcast layers a Track holds (RIDs q, h, f).
const MaxLayers = 3

// layerForRID maps a simulcast RID to a layer index, low to high. "" is the
// single layer of a non-simulcast track.
func layerForRID(rid string) (int, bool) {
	switch rid {
	case "", "q", "0", "l":
		return 0, true
	case "h", "1", "m":
		return 1, true
	case "f", "2":
		return 2, true
	}
	return 0, false
}

// policyInput is everything the layer choice depends on. It is a plain value
// so the policy is a pure function with a table test.
type policyInput struct {
	available [MaxLayers]bool  // layer receives packets
	bitrate   [MaxLayers]int64 // measured bits/s, 0 = unknown
	width     [MaxLayers]int   // frame size of the layer, 0 = unknown
	height    [MaxLayers]int

	viewportSet bool // SetViewport was called
	viewportW   int
	viewportH   int
	estimate    int64 // subscriber's bandwidth share for this track, bits/s; 0 = unknown
	decreasing  bool  // the last estimate fell (congestion signal)
	current     int   // layer now forwarded, -1 none
	probe       int   // layer being tried above what the estimate allows, -1 none
}

// paused is the target layer meaning "send nothing".
const paused = -1

// selectLayer returns the layer a subscriber should receive, or paused.
//
//  1. Viewport 0x0 pauses.
//  2. The viewport caps the layer: the smallest available layer whose longer
//     side covers the viewport's longer side (rotation-proof); no viewport
//     means no cap.
//  3. With a bandwidth estimate, the highest layer at or below the cap whose
//     measured bitrate fits the estimate; if none fits, the lowest available.
//  4. Hysteresis: REMB lags behind after an upgrade (a receiver caps it near
//     1.5x what it receives), so a lower layer than the current one is chosen
//     for bandwidth only on a congestion signal: the estimate fell.
//  5. A probe (see DownTrack) lifts the choice to the probed layer unless
//     congestion is signalled.
func selectLayer(in policyInput) int {
	if in.viewportSet && in.viewportW <= 0 && in.viewportH <= 0 {
		return paused
	}
	lowest, highest := -1, -1
	for l := 0; l < MaxLayers; l++ {
		if in.available[l] {
			if lowest < 0 {
				lowest = l
			}
			highest = l
		}
	}
	if lowest < 0 {
		// Nothing received yet: keep the current choice, else aim high;
		// the choice is re-evaluated once layers report.
		if in.current >= 0 {
			return in.current
		}
		return MaxLayers - 1
	}

	capLayer := highest
	if in.viewportSet {
		want := max(in.viewportW, in.viewportH)
		w, h := layerSizes(in)
		for l := lowest; l <= highest; l++ {
			if in.available[l] && max(w[l], h[l]) >= want {
				capLayer = l
				break
			}
		}
	}
	if in.estimate <= 0 {
		return capLayer
	}

	choice := lowest
	for l := capLayer; l >= lowest; l-- {
		if in.available[l] && in.bitrate[l] <= in.estimate {
			choice = l
			break
		}
	}
	if cur := in.current; cur >= 0 && cur <= capLayer && in.available[cur] && choice < cur && !in.decreasing {
		choice = cur
	}
	if p := in.probe; p > choice && p <= capLayer && in.available[p] && !in.decreasing {
		choice = p
	}
	return choice
}

// layerSizes fills unknown layer sizes assuming the usual simulcast scaling
// (each layer half the size of the next), anchored at the highest known
// layer or at 1280x720 for the top layer.
func layerSizes(in policyInput) (w, h [MaxLayers]int) {
	anchor, aw, ah := MaxLayers-1, 1280, 720
	for l := MaxLayers - 1; l >= 0; l-- {
		if in.width[l] > 0 && in.height[l] > 0 {
			anchor, aw, ah = l, in.width[l], in.height[l]
			break
		}
	}
	for l := 0; l < MaxLayers; l++ {
		if in.width[l] > 0 && in.height[l] > 0 {
			w[l], h[l] = in.width[l], in.height[l]
			continue
		}
		shift := l - anchor
		switch {
		case shift < 0:
			w[l], h[l] = aw>>(-shift), ah>>(-shift)
		default:
			w[l], h[l] = aw<<shift, ah<<shift
		}
	}
	return w, h
}
