package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// levelPionDebug sits below slog.LevelDebug: pion logs several lines per
// relayed packet at debug, which would bury our own debug lines (refusals).
const levelPionDebug = slog.LevelDebug - 4

// pionLogs adapts slog to pion's logger interface. Pion's levels describe
// events that remote clients cause (a failed TLS handshake is an "error"), so
// each is demoted one step: a port scanner must not fill the log at
// warn/error. Trace is dropped.
type pionLogs struct{ l *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.l.With("pion", scope)}
}

type pionLogger struct{ l *slog.Logger }

func (p pionLogger) log(level slog.Level, msg string) {
	p.l.Log(context.Background(), level, msg)
}

// logf formats only when the level is enabled: pion calls Debugf on the
// per-packet path.
func (p pionLogger) logf(level slog.Level, format string, args ...any) {
	if p.l.Enabled(context.Background(), level) {
		p.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (pionLogger) Trace(string)                   {}
func (pionLogger) Tracef(string, ...any)          {}
func (p pionLogger) Debug(msg string)             { p.log(levelPionDebug, msg) }
func (p pionLogger) Debugf(f string, args ...any) { p.logf(levelPionDebug, f, args...) }
func (p pionLogger) Info(msg string)              { p.log(slog.LevelDebug, msg) }
func (p pionLogger) Infof(f string, args ...any)  { p.logf(slog.LevelDebug, f, args...) }
func (p pionLogger) Warn(msg string)              { p.log(slog.LevelInfo, msg) }
func (p pionLogger) Warnf(f string, args ...any)  { p.logf(slog.LevelInfo, f, args...) }
func (p pionLogger) Error(msg string)             { p.log(slog.LevelWarn, msg) }
func (p pionLogger) Errorf(f string, args ...any) { p.logf(slog.LevelWarn, f, args...) }
