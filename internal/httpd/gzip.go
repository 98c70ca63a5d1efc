package httpd

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// gzipped serves the web app's text files (scripts, styles, pages) gzipped
// to clients that accept it: the widget and the SDK it loads are 42 KB that
// way against 150 KB as they are, on the visitor's first page. The files are
// embedded and never change, so each is compressed once, on first request.
type gzipped struct {
	files fs.FS
	mu    sync.Mutex
	cache map[string]*gzEntry
}

type gzEntry struct {
	body []byte
	etag string
}

func newGzipped(files fs.FS) *gzipped { return &gzipped{files: files, cache: map[string]*gzEntry{}} }

// compressible are the kinds of file worth compressing.
var compressible = map[string]bool{".js": true, ".css": true, ".html": true, ".svg": true, ".json": true}

// serve writes the file at name gzipped and reports true, or reports false
// when it should be served as it is (not accepted, not text, not a file).
func (g *gzipped) serve(w http.ResponseWriter, r *http.Request, name string) bool {
	ext := path.Ext(name)
	if !compressible[ext] || !acceptsGzip(r) || r.Header.Get("Range") != "" {
		return false
	}
	e := g.entry(name)
	if e == nil {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	h.Set("ETag", e.etag)
	if r.Header.Get("If-None-Match") == e.etag {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	h.Set("Content-Type", mime.TypeByExtension(ext))
	h.Set("Content-Encoding", "gzip")
	if r.Method != http.MethodHead {
		w.Write(e.body)
	}
	return true
}

func (g *gzipped) entry(name string) *gzEntry {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.cache[name]; ok {
		return e
	}
	b, err := fs.ReadFile(g.files, name)
	if err != nil {
		// A directory, or no such file: the file server answers. Not
		// remembered: anyone can ask for any name, and the map would grow.
		return nil
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	sum := sha256.Sum256(buf.Bytes())
	e := &gzEntry{body: buf.Bytes(), etag: `"gz-` + hex.EncodeToString(sum[:8]) + `"`}
	g.cache[name] = e
	return e
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// ("gzip", "gzip;q=0.5"; not "gzip;q=0").
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
		return true
	}
	return false
}
