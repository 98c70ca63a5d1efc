package rtc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// loggerFactory sends pion's logs to slog. pion is chatty at info level, so its debug and info
// messages appear only when slog is at debug.
type loggerFactory struct{ log *slog.Logger }

func newLoggerFactory(l *slog.Logger) *loggerFactory { return &loggerFactory{l} }

func (f *loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

// logf formats only when the level is enabled. Besides saving the work, this matters for
// correctness: some pion debug lines format live objects (%+v of a track) that other goroutines are
// writing, which is a data race if it runs.
func (p *pionLogger) logf(level slog.Level, format string, a ...any) {
	if !p.log.Enabled(context.Background(), level) {
		return
	}
	msg := format
	if len(a) > 0 {
		msg = fmt.Sprintf(format, a...)
	}
	p.log.Log(context.Background(), level, msg)
}

func (p *pionLogger) Trace(string)              {}
func (p *pionLogger) Tracef(string, ...any)     {}
func (p *pionLogger) Debug(m string)            { p.logf(slog.LevelDebug, "%s", m) }
func (p *pionLogger) Debugf(f string, a ...any) { p.logf(slog.LevelDebug, f, a...) }
func (p *pionLogger) Info(m string)             { p.logf(slog.LevelDebug, "%s", m) }
func (p *pionLogger) Infof(f string, a ...any)  { p.logf(slog.LevelDebug, f, a...) }
func (p *pionLogger) Warn(m string) {
	level := slog.LevelWarn
	if strings.HasPrefix(m, "UDPMuxDefault should not listening on unspecified") {
		// One wildcard socket for all media is our design (one port, every interface); pion
		// supports it and warns only because it prefers one socket per interface.
		level = slog.LevelDebug
	}
	p.logf(level, "%s", m)
}
func (p *pionLogger) Warnf(f string, a ...any)  { p.logf(slog.LevelWarn, f, a...) }
func (p *pionLogger) Error(m string)            { p.logf(slog.LevelError, "%s", m) }
func (p *pionLogger) Errorf(f string, a ...any) { p.logf(slog.LevelError, f, a...) }
