// Package store persists Switchboard state in SQLite (pure Go, no cgo) by
// default, or in PostgreSQL when a database URL is given. Queries are written
// once with ? placeholders (see db.go); each database has its own migrations
// under migrations/<dialect>, kept to the same schema.
//
// Layout under the data directory:
//
//	switchboard.db      the SQLite database (mode 0600), unless PostgreSQL is used
//	files/<id>          uploaded file contents, named by random id
//
// One Store owns a directory; do not open the same directory from two
// processes at once.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers driver "sqlite"
)

var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists is returned when creating a row whose id is taken.
	ErrExists = errors.New("store: already exists")
	// ErrTooLarge is returned by SaveFile when the content exceeds maxSize.
	ErrTooLarge = errors.New("store: file too large")
)

//go:embed migrations
var migrationsFS embed.FS

const (
	dbName   = "switchboard.db"
	filesDir = "files"
	// maxReaders bounds concurrent read connections; WAL lets them run
	// alongside the single writer.
	maxReaders = 4
)

// Store is a SQLite-backed store. It is safe for concurrent use.
type Store struct {
	// SQLite allows one writer at a time. A one-connection write pool queues
	// writers in Go instead of failing with SQLITE_BUSY; reads use their own
	// pool so they never wait behind a write.
	// On PostgreSQL both are the same pool.
	w   *db
	r   *db
	pg  bool
	dir string
	now func() time.Time
}

// Open opens (creating if needed) the SQLite store in dir and applies migrations.
func Open(ctx context.Context, dir string) (*Store, error) {
	return OpenDatabase(ctx, dir, "")
}

// OpenDatabase opens the store with uploaded files in dir and everything else
// in the PostgreSQL database at databaseURL (postgres://...), or in SQLite in
// dir when databaseURL is empty. Migrations are applied either way.
func OpenDatabase(ctx context.Context, dir, databaseURL string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, filesDir), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	removeStaleUploads(dir)
	if databaseURL != "" {
		return openPostgres(ctx, dir, databaseURL)
	}
	path := filepath.Join(dir, dbName)
	// Create the file ourselves so it is 0600 from the start: it holds API key
	// secrets. SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f.Close()

	s := &Store{dir: dir, now: time.Now}
	common := "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	// IMMEDIATE transactions take the write lock at BEGIN, so a transaction
	// that reads then writes cannot fail halfway on a lock upgrade.
	w, err := sql.Open("sqlite", dsn(path, common+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s.w = &db{DB: w}
	s.w.SetMaxOpenConns(1)
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	// The reader pool opens after migrations so WAL mode is already set.
	r, err := sql.Open("sqlite", dsn(path, common+"&_pragma=query_only(1)"))
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s.r = &db{DB: r}
	s.r.SetMaxOpenConns(maxReaders)
	s.r.SetMaxIdleConns(maxReaders)
	if err := s.r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	return s, nil
}

// openPostgres connects to PostgreSQL; one pool serves reads and writes.
func openPostgres(ctx context.Context, dir, databaseURL string) (*Store, error) {
	p, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	p.SetMaxOpenConns(16)
	p.SetMaxIdleConns(16)
	pool := &db{DB: p, pg: true}
	s := &Store{w: pool, r: pool, pg: true, dir: dir, now: time.Now}
	if err := p.PingContext(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("store: connect to postgres: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return s, nil
}

// removeStaleUploads deletes leftover uploads from a crash: they never got a
// row, so nothing refers to them.
func removeStaleUploads(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, filesDir, ".upload-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
}

func dsn(path, query string) string {
	return (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: query}).String()
}

// migrate uses a goose Provider, not goose's package-level state, so several
// stores can open in one process (tests, tools).
func (s *Store) migrate(ctx context.Context) error {
	dialect, dirName := goose.DialectSQLite3, "migrations/sqlite"
	if s.pg {
		dialect, dirName = goose.DialectPostgres, "migrations/postgres"
	}
	sub, err := fs.Sub(migrationsFS, dirName)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, s.w.DB, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	return nil
}

// Close closes the database. Files returned by OpenFile stay usable.
func (s *Store) Close() error {
	var errR error
	if s.r != nil && s.r != s.w {
		errR = s.r.Close()
	}
	return errors.Join(errR, s.w.Close())
}

func (s *Store) filePath(id string) string { return filepath.Join(s.dir, filesDir, id) }

// millis and fromMillis convert to the stored time representation.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// stamp returns t, or now if t is zero, at the precision stored.
func (s *Store) stamp(t time.Time) time.Time {
	if t.IsZero() {
		t = s.now()
	}
	return fromMillis(millis(t))
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
