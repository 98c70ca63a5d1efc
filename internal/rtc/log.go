package rtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// loggerFactory sends pion's logs to slog. pion is chatty at info level, so only warnings and errors
// pass unless slog is at debug.
type loggerFactory struct{ log *slog.Logger }

func newLoggerFactory(l *slog.Logger) *loggerFactory { return &loggerFactory{l} }

func (f *loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (p *pionLogger) emit(level slog.Level, msg string) {
	if level < slog.LevelWarn && !p.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	p.log.Log(context.Background(), level, msg)
}

func (p *pionLogger) Trace(string)              {}
func (p *pionLogger) Tracef(string, ...any)     {}
func (p *pionLogger) Debug(m string)            { p.emit(slog.LevelDebug, m) }
func (p *pionLogger) Debugf(f string, a ...any) { p.emit(slog.LevelDebug, fmt.Sprintf(f, a...)) }
func (p *pionLogger) Info(m string)             { p.emit(slog.LevelDebug, m) }
func (p *pionLogger) Infof(f string, a ...any)  { p.emit(slog.LevelDebug, fmt.Sprintf(f, a...)) }
func (p *pionLogger) Warn(m string)             { p.emit(slog.LevelWarn, m) }
func (p *pionLogger) Warnf(f string, a ...any)  { p.emit(slog.LevelWarn, fmt.Sprintf(f, a...)) }
func (p *pionLogger) Error(m string)            { p.emit(slog.LevelError, m) }
func (p *pionLogger) Errorf(f string, a ...any) { p.emit(slog.LevelError, fmt.Sprintf(f, a...)) }
