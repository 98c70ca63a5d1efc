package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/store/pgtest"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backend is one database the store tests run against: SQLite in dir, or a
// fresh PostgreSQL database (url) with uploaded files in dir.
type backend struct {
	dir, url string
}

// open opens a Store on the backend's data; each call is a fresh Store, as
// after a restart. It is closed when the test ends.
func (b backend) open(t *testing.T) *Store {
	t.Helper()
	s, err := OpenDatabase(t.Context(), b.dir, b.url)
	if err != nil {
		t.Fatalf("OpenDatabase: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachBackend runs test against SQLite and against PostgreSQL: one behaviour.
func eachBackend(t *testing.T, test func(*testing.T, backend)) {
	t.Run("sqlite", func(t *testing.T) { test(t, backend{dir: t.TempDir()}) })
	t.Run("postgres", func(t *testing.T) { test(t, backend{dir: t.TempDir(), url: pgtest.Database(t)}) })
}

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func TestOpenMigratesAndReopens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := open(t, dir)

	files, _ := fs.Glob(migrationsFS, "migrations/sqlite/*.sql")
	latest, _ := strconv.ParseInt(strings.SplitN(path.Base(files[len(files)-1]), "_", 2)[0], 10, 64)
	applied := int64(len(files))
	var version int64
	if err := s.r.QueryRow(`SELECT MAX(version_id) FROM goose_db_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != latest {
		t.Fatalf("schema version %d, want %d", version, latest)
	}
	// The two dialects keep the same migrations.
	if pg, _ := fs.Glob(migrationsFS, "migrations/postgres/*.sql"); len(pg) != len(files) {
		t.Fatalf("%d SQLite migrations but %d PostgreSQL ones", len(files), len(pg))
	}
	var mode string
	if err := s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v", mode, err)
	}
	var fk int
	if err := s.r.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d, %v", fk, err)
	}
	// Reads go to the query-only pool.
	if _, err := s.r.Exec(`DELETE FROM rooms`); err == nil {
		t.Fatal("reader pool accepted a write")
	}

	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "switchboard.db"): 0o600, filepath.Join(dir, "files"): 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %v, want %v", path, got, want)
		}
	}

	if err := s.CreateAPIKey(t.Context(), APIKey{ID: "SBA", Secret: "s3cret", Name: "ci"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening applies nothing new and keeps the data; the WAL file
	// SQLite created inherits the database file's mode.
	s2 := open(t, dir)
	if err := s2.r.QueryRow(`SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0`).Scan(&version); err != nil || version != applied {
		t.Fatalf("applied migrations %d, %v", version, err)
	}
	k, err := s2.APIKey(t.Context(), "SBA")
	if err != nil || k.Secret != "s3cret" || k.Name != "ci" {
		t.Fatalf("after reopen: %+v, %v", k, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "switchboard.db-wal")); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("wal mode %v", fi.Mode().Perm())
	}
}

func TestOpenFails(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), notDir); err == nil {
		s.Close()
		t.Fatal("Open on a regular file succeeded")
	}
}

func TestManyStoresInOneProcess(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := Open(t.Context(), t.TempDir())
			if err != nil {
				errs <- err
				return
			}
			errs <- s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAPIKeys(t *testing.T) { eachBackend(t, testAPIKeys) }

func testAPIKeys(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"SBONE", "SBTWO"} {
		if err := s.CreateAPIKey(ctx, APIKey{ID: id, Secret: "secret-" + id, Name: id, CreatedAt: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAPIKey(ctx, APIKey{ID: "SBONE", Secret: "other"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if k, _ := s.APIKey(ctx, "SBONE"); k.Secret != "secret-SBONE" || !k.CreatedAt.Equal(t0) {
		t.Fatalf("duplicate insert changed the key: %+v", k)
	}
	keys, err := s.APIKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "SBONE" || keys[1].ID != "SBTWO" {
		t.Fatalf("APIKeys = %+v, %v", keys, err)
	}
	for _, k := range keys {
		if k.Secret != "" {
			t.Fatal("APIKeys exposed a secret")
		}
	}
	if err := s.DeleteAPIKey(ctx, "SBONE"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.APIKey(ctx, "SBONE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if err := s.DeleteAPIKey(ctx, "SBONE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.CreateAPIKey(ctx, APIKey{ID: "SBX"}); err == nil {
		t.Fatal("empty secret accepted")
	}
}

func TestRooms(t *testing.T) { eachBackend(t, testRooms) }

func testRooms(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	if _, err := s.Room(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing room: %v", err)
	}
	if err := s.SaveRoom(ctx, Room{ID: "r1", CreatedBy: "alice", Settings: json.RawMessage(`{"lobby":true}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRoom(ctx, Room{ID: "r0"}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Room(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	// Saving again updates settings only.
	if err := s.SaveRoom(ctx, Room{ID: "r1", CreatedBy: "mallory", CreatedAt: time.Unix(1, 0), Settings: json.RawMessage(`{"lobby":false}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRoom(ctx, Room{ID: "r2", Settings: json.RawMessage(`{nope`)}); err == nil {
		t.Fatal("invalid JSON accepted")
	}
	s.Close()

	s = b.open(t)
	r, err := s.Room(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if r.CreatedBy != "alice" || !r.CreatedAt.Equal(first.CreatedAt) || string(r.Settings) != `{"lobby":false}` {
		t.Fatalf("room after update and reopen: %+v", r)
	}
	rooms, err := s.Rooms(ctx)
	if err != nil || len(rooms) != 2 {
		t.Fatalf("Rooms = %+v, %v", rooms, err)
	}
	if r0, _ := s.Room(ctx, "r0"); string(r0.Settings) != "{}" {
		t.Fatalf("default settings %q", r0.Settings)
	}
	if err := s.DeleteRoom(ctx, "r0"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRoom(ctx, "r0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestChatSeqConcurrent(t *testing.T) { eachBackend(t, testChatSeqConcurrent) }

func testChatSeqConcurrent(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// A second room interleaves to show seqs are per room.
				room := "busy"
				if i%10 == 0 {
					room = "quiet"
				}
				m, err := s.AppendChat(ctx, room, ChatMessage{ParticipantID: fmt.Sprint("p", w), Text: fmt.Sprint(w, "/", i)})
				if err != nil {
					errs <- err
					return
				}
				if m.Seq < 1 || m.CreatedAt.IsZero() {
					errs <- fmt.Errorf("returned %+v", m)
				}
			}
		})
	}
	// Readers run alongside the writers.
	wg.Go(func() {
		for range 20 {
			if _, err := s.ChatHistory(ctx, "busy", 0, 0); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for room, want := range map[string]int{"busy": workers * each * 9 / 10, "quiet": workers * each / 10} {
		var all []ChatMessage
		for after := int64(0); ; {
			page, err := s.ChatHistory(ctx, room, after, 37)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1].Seq
		}
		if len(all) != want {
			t.Fatalf("%s: %d messages, want %d", room, len(all), want)
		}
		seen := map[string]bool{}
		for i, m := range all {
			if m.Seq != int64(i+1) {
				t.Fatalf("%s: message %d has seq %d", room, i, m.Seq)
			}
			if seen[m.Text] {
				t.Fatalf("%s: %q stored twice", room, m.Text)
			}
			seen[m.Text] = true
		}
	}
}

func TestChatHistory(t *testing.T) { eachBackend(t, testChatHistory) }

func testChatHistory(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	if _, err := s.AppendChat(ctx, "", ChatMessage{Text: "x"}); err == nil {
		t.Fatal("empty room accepted")
	}
	in := ChatMessage{ParticipantID: "p1", Name: "Alice", Text: "see attached",
		FileID: "0123456789abcdef0123456789abcdef", FileName: "a.pdf", FileSize: 42, FileType: "application/pdf"}
	got, err := s.AppendChat(ctx, "r", in)
	if err != nil {
		t.Fatal(err)
	}
	for range MaxHistory + 5 {
		if _, err := s.AppendChat(ctx, "r", ChatMessage{Text: "more"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = b.open(t)
	h, err := s.ChatHistory(ctx, "r", 0, 1)
	if err != nil || len(h) != 1 {
		t.Fatalf("history %+v, %v", h, err)
	}
	if h[0] != got {
		t.Fatalf("stored %+v, read %+v", got, h[0])
	}
	if h, _ := s.ChatHistory(ctx, "r", 0, 10_000); len(h) != MaxHistory {
		t.Fatalf("limit not capped: %d", len(h))
	}
	if h, _ := s.ChatHistory(ctx, "r", MaxHistory+3, 0); len(h) != 3 || h[0].Seq != MaxHistory+4 {
		t.Fatalf("after: %+v", h)
	}
	if h, err := s.ChatHistory(ctx, "empty", 0, 0); err != nil || h == nil || len(h) != 0 {
		t.Fatalf("empty room: %#v, %v", h, err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestFiles(t *testing.T) { eachBackend(t, testFiles) }

func testFiles(t *testing.T, b backend) {
	ctx := t.Context()
	dir := b.dir
	s := b.open(t)
	content := bytes.Repeat([]byte("switchboard "), 1000)
	sum := sha256.Sum256(content)

	f, err := s.SaveFile(ctx, File{Room: "r1", Name: "../../etc/passwd", ContentType: "text/plain"}, bytes.NewReader(content), int64(len(content)))
	if err != nil {
		t.Fatalf("exactly maxSize: %v", err)
	}
	if len(f.ID) != 32 || !validFileID(f.ID) || f.Size != int64(len(content)) || f.SHA256 != hex.EncodeToString(sum[:]) || f.CreatedAt.IsZero() {
		t.Fatalf("saved %+v", f)
	}
	if names := listFiles(t, dir); len(names) != 1 || names[0] != f.ID {
		t.Fatalf("files dir %v", names)
	}
	s.Close()

	s = b.open(t)
	meta, fh, err := s.OpenFile(ctx, "r1", f.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(fh)
	fh.Close()
	if meta != f || !bytes.Equal(got, content) {
		t.Fatalf("read back %+v (%d bytes), want %+v", meta, len(got), f)
	}

	for name, tc := range map[string]struct{ room, id string }{
		"other room":  {"r2", f.ID},
		"unknown id":  {"r1", strings.Repeat("0", 32)},
		"path escape": {"r1", "../switchboard.db"},
		"empty":       {"r1", ""},
	} {
		if _, fh, err := s.OpenFile(ctx, tc.room, tc.id); !errors.Is(err, ErrNotFound) || fh != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSaveFileTooLarge(t *testing.T) { eachBackend(t, testSaveFileTooLarge) }

func testSaveFileTooLarge(t *testing.T, b backend) {
	ctx := t.Context()
	dir := b.dir
	s := b.open(t)
	// An endless stream must stop at the limit, not at EOF.
	_, err := s.SaveFile(ctx, File{Room: "r1", Name: "big"}, endless{}, 1<<20)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	_, err = s.SaveFile(ctx, File{Room: "r1", Name: "big"}, strings.NewReader("12345"), 4)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over: %v", err)
	}
	if names := listFiles(t, dir); len(names) != 0 {
		t.Fatalf("left behind %v", names)
	}
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM files`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows %d, %v", n, err)
	}

	// A failing reader and a cancelled context also leave nothing.
	boom := errors.New("boom")
	if _, err := s.SaveFile(ctx, File{Room: "r1"}, io.MultiReader(strings.NewReader("abc"), errReader{boom}), 100); !errors.Is(err, boom) {
		t.Fatalf("reader error: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.SaveFile(cctx, File{Room: "r1"}, endless{}, 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if names := listFiles(t, dir); len(names) != 0 {
		t.Fatalf("left behind %v", names)
	}
}

func TestDeleteRoomRemovesChatAndFiles(t *testing.T) {
	eachBackend(t, testDeleteRoomRemovesChatAndFiles)
}

func testDeleteRoomRemovesChatAndFiles(t *testing.T, b backend) {
	ctx := t.Context()
	dir := b.dir
	s := b.open(t)
	if err := s.SaveRoom(ctx, Room{ID: "gone"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, room := range []string{"gone", "gone", "kept"} {
		f, err := s.SaveFile(ctx, File{Room: room, Name: "x.txt"}, strings.NewReader("hello "+room), 1024)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
		if _, err := s.AppendChat(ctx, room, ChatMessage{Text: "hi", FileID: f.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteRoom(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Room(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("room: %v", err)
	}
	if h, _ := s.ChatHistory(ctx, "gone", 0, 0); len(h) != 0 {
		t.Fatalf("chat left: %+v", h)
	}
	for _, id := range ids[:2] {
		if _, err := os.Stat(filepath.Join(dir, "files", id)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("file %s still on disk: %v", id, err)
		}
		if _, _, err := s.OpenFile(ctx, "gone", id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("file row %s: %v", id, err)
		}
	}
	// Other rooms are untouched; a room that was never saved can still be
	// purged of its chat and files.
	if h, _ := s.ChatHistory(ctx, "kept", 0, 0); len(h) != 1 {
		t.Fatalf("kept chat: %+v", h)
	}
	if _, fh, err := s.OpenFile(ctx, "kept", ids[2]); err != nil {
		t.Fatal(err)
	} else {
		fh.Close()
	}
	if err := s.DeleteRoom(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if names := listFiles(t, dir); len(names) != 0 {
		t.Fatalf("left behind %v", names)
	}
	if err := s.DeleteRoom(ctx, "never"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown room: %v", err)
	}
}

func TestOpenRemovesStaleUploads(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	stale := filepath.Join(dir, "files", ".upload-123")
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale upload kept: %v", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
