package audio

import "math"

// Mixer mixes N inputs of PCM into mix-minus outputs: everyone hears the
// sum of all the others. Inputs push samples whenever they have them
// (decoded packets arrive with jitter); the owner calls Tick once per frame
// (every 20 ms) and then Output for each listener. An input that has
// nothing queued at a tick is silent for that frame; one that queued more
// than its depth allows loses its oldest samples, so latency stays bounded.
type Mixer struct {
	frame  int
	depth  int // most frames an input may queue
	inputs map[string]*mixInput
	sum    []int32
}

type mixInput struct {
	queue   []int16 // pushed, not yet mixed
	current []int16 // this tick's frame (zeros when the input was late)
	playing bool    // has started: an input waits for one full frame first
}

// NewMixer returns a mixer of frame-sample frames whose inputs may queue
// up to depth frames (at least 2).
func NewMixer(frame, depth int) *Mixer {
	if depth < 2 {
		depth = 2
	}
	return &Mixer{frame: frame, depth: depth, inputs: map[string]*mixInput{}, sum: make([]int32, frame)}
}

// Push queues samples of input id, adding the input if it is new.
func (m *Mixer) Push(id string, pcm []int16) {
	in := m.inputs[id]
	if in == nil {
		in = &mixInput{current: make([]int16, m.frame)}
		m.inputs[id] = in
	}
	in.queue = append(in.queue, pcm...)
	if over := len(in.queue) - m.depth*m.frame; over > 0 {
		in.queue = append(in.queue[:0], in.queue[over:]...)
	}
}

// Remove drops input id (the participant left).
func (m *Mixer) Remove(id string) { delete(m.inputs, id) }

// Inputs is the number of inputs.
func (m *Mixer) Inputs() int { return len(m.inputs) }

// Tick takes one frame from every input (silence from those without one)
// and sums them.
func (m *Mixer) Tick() {
	clear(m.sum)
	for _, in := range m.inputs {
		if !in.playing && len(in.queue) >= m.frame {
			in.playing = true
		}
		n := 0
		if in.playing {
			n = copy(in.current, in.queue)
			in.queue = append(in.queue[:0], in.queue[n:]...)
			if n == 0 {
				in.playing = false // ran dry: wait for a full frame again
			}
		}
		clear(in.current[n:])
		for i, s := range in.current {
			m.sum[i] += int32(s)
		}
	}
}

// Output appends this tick's mix without input exclude ("" or an unknown
// id: everything) to dst, soft-limited into 16 bits.
func (m *Mixer) Output(dst []int16, exclude string) []int16 {
	own := m.inputs[exclude]
	for i, s := range m.sum {
		if own != nil {
			s -= int32(own.current[i])
		}
		dst = append(dst, Limit(s))
	}
	return dst
}

// limitKnee is where the soft limiter starts to bend: below it, samples
// pass unchanged, so one speaker alone is never altered.
const limitKnee = 24576 // -2.5 dBFS

// Limit maps a sum of samples into 16 bits: linear up to the knee, then a
// tanh curve that approaches full scale without clipping's harsh edges.
func Limit(s int32) int16 {
	if s <= limitKnee && s >= -limitKnee {
		return int16(s)
	}
	sign := float64(1)
	v := float64(s)
	if v < 0 {
		sign, v = -1, -v
	}
	const room = 32767 - limitKnee
	out := limitKnee + room*math.Tanh((v-limitKnee)/room)
	return int16(sign * out)
}
