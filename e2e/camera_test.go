package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Each browser's camera plays a small generated Y4M clip instead of Chromium's built-in 1280×720
// fake camera: 640×360 at 20 fps is still sent as simulcast by the SDK (it simulcasts video at least
// 640 px wide), but costs a quarter of the encoding work, which matters with three browsers on a
// 2-core CI machine. The clip has a per-person colour and a moving bar, so screenshots tell people
// apart and the encoder sees motion. The microphone stays Chromium's fake beep.
const (
	camWidth  = 640
	camHeight = 360
	camFPS    = 20
	camFrames = 40 // a two-second loop
)

// palette holds YUV colours (BT.601, full range) for successive browsers.
var palette = [][3]byte{
	{81, 90, 240},   // red
	{145, 54, 34},   // green
	{41, 240, 110},  // blue
	{210, 16, 146},  // yellow
	{106, 202, 222}, // magenta
	{170, 166, 16},  // cyan
}

// writeCameraClip writes the clip for the i-th browser into dir and returns its path.
func writeCameraClip(t *testing.T, dir string, i int) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("camera-%d.y4m", i))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", camWidth, camHeight, camFPS)
	c := palette[i%len(palette)]
	y := make([]byte, camWidth*camHeight)
	u := make([]byte, camWidth*camHeight/4)
	v := make([]byte, camWidth*camHeight/4)
	for n := range camFrames {
		barX := n * (camWidth - 80) / camFrames
		for row := range camHeight {
			for col := range camWidth {
				luma := c[0]
				switch {
				case col >= barX && col < barX+80:
					luma = 235 // the moving bar
				case row > camHeight*3/4 && (col/40+row/40)%2 == 0:
					luma = c[0] / 2 // a checkerboard strip gives the encoder some detail
				}
				y[row*camWidth+col] = luma
			}
		}
		for i := range u {
			u[i], v[i] = c[1], c[2]
		}
		w.WriteString("FRAME\n")
		w.Write(y)
		w.Write(u)
		w.Write(v)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
