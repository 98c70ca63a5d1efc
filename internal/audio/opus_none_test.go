//go:build !libopus

package audio

import (
	"errors"
	"testing"
)

func TestNoOpusSaysHowToGetIt(t *testing.T) {
	if _, err := NewOpusEncoder(Rate); !errors.Is(err, ErrNoOpus) {
		t.Fatalf("encoder: %v, want ErrNoOpus", err)
	}
	if _, err := NewOpusReceiver(Rate); !errors.Is(err, ErrNoOpus) {
		t.Fatalf("receiver: %v, want ErrNoOpus", err)
	}
}
