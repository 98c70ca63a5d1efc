package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// File is the metadata of a shared file. Its content lives in files/<ID>.
type File struct {
	ID          string // 128 random bits, hex; never derived from Name
	Room        string
	Name        string
	Size        int64
	ContentType string
	SHA256      string // hex
	CreatedAt   time.Time
}

// SaveFile streams r to disk and records it. The caller sets meta.Room, Name
// and ContentType; ID, Size, SHA256 and CreatedAt are filled in. If r yields
// more than maxSize bytes it returns ErrTooLarge and leaves nothing behind.
func (s *Store) SaveFile(ctx context.Context, meta File, r io.Reader, maxSize int64) (File, error) {
	if meta.Room == "" {
		return File{}, errors.New("store: save file: empty room")
	}
	if maxSize <= 0 {
		return File{}, errors.New("store: save file: maxSize must be positive")
	}
	dir := filepath.Join(s.dir, filesDir)
	// The temp file is in the same directory so the rename is atomic.
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return File{}, fmt.Errorf("store: save file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	h := sha256.New()
	// Read one byte past the limit to tell "exactly maxSize" from "more".
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(ctxReader{ctx, r}, maxSize+1))
	if err != nil {
		return File{}, fmt.Errorf("store: save file: %w", err)
	}
	if n > maxSize {
		return File{}, fmt.Errorf("store: save file: %w (limit %d bytes)", ErrTooLarge, maxSize)
	}
	// fsync before rename, so a crash never exposes a short file under its final name.
	if err := tmp.Sync(); err != nil {
		return File{}, fmt.Errorf("store: save file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return File{}, fmt.Errorf("store: save file: %w", err)
	}

	meta.ID = newFileID()
	meta.Size = n
	meta.SHA256 = hex.EncodeToString(h.Sum(nil))
	meta.CreatedAt = s.stamp(time.Time{})
	final := s.filePath(meta.ID)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return File{}, fmt.Errorf("store: save file: %w", err)
	}
	committed = true
	syncDir(dir)

	// The row goes in last: a crash before it leaves an orphan file, never a
	// row without content.
	if _, err := s.w.ExecContext(ctx,
		`INSERT INTO files (id, room, name, size, content_type, sha256, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		meta.ID, meta.Room, meta.Name, meta.Size, meta.ContentType, meta.SHA256, millis(meta.CreatedAt)); err != nil {
		os.Remove(final)
		return File{}, fmt.Errorf("store: save file: %w", err)
	}
	return meta, nil
}

// OpenFile returns the metadata and an open handle to the content of file id
// in room, or ErrNotFound. A file is only found through its own room. The
// caller closes the handle.
func (s *Store) OpenFile(ctx context.Context, room, id string) (File, *os.File, error) {
	if !validFileID(id) {
		return File{}, nil, fmt.Errorf("store: file %q: %w", id, ErrNotFound)
	}
	f := File{ID: id, Room: room}
	var created int64
	err := s.r.QueryRowContext(ctx,
		`SELECT name, size, content_type, sha256, created_at FROM files WHERE id = ? AND room = ?`,
		id, room).Scan(&f.Name, &f.Size, &f.ContentType, &f.SHA256, &created)
	if err != nil {
		return File{}, nil, fmt.Errorf("store: file %q: %w", id, notFound(err))
	}
	f.CreatedAt = fromMillis(created)
	fh, err := os.Open(s.filePath(id))
	if errors.Is(err, os.ErrNotExist) {
		return File{}, nil, fmt.Errorf("store: file %q content missing: %w", id, ErrNotFound)
	} else if err != nil {
		return File{}, nil, fmt.Errorf("store: file %q: %w", id, err)
	}
	return f, fh, nil
}

func newFileID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return hex.EncodeToString(b[:])
}

// validFileID keeps ids that did not come from newFileID (and so could hold
// path separators) away from the filesystem.
func validFileID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// syncDir makes a rename durable. Errors are ignored: some filesystems
// cannot fsync a directory, and the data itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ctxReader stops a long upload when its context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
