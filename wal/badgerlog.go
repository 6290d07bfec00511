package wal

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// errBadgerSync is a sync failure Badger reported only through its logger.
var errBadgerSync = errors.New("badger reported a failed sync")

// badgerLogger adapts Badger's printf-style Logger to hclog. Badger's info
// chatter (compactions, table flushes) goes to Debug and its debug to Trace,
// so a server at Info level hears only warnings and errors.
//
// Badger logs a failed fsync of its own instead of returning it to the
// committer; onSyncError hears of any error line that mentions a sync so
// the WAL can fail the commit that is waiting on it. (The syncs that make
// commits durable are the WAL's own, see logSyncer, which returns their
// errors; this catches whatever Badger still syncs itself.)
type badgerLogger struct {
	l           hclog.Logger
	onSyncError func(error)
}

func newBadgerLogger(l hclog.Logger, onSyncError func(error)) badgerLogger {
	if l == nil {
		l = hclog.NewNullLogger()
	}
	return badgerLogger{l: l.Named("badger"), onSyncError: onSyncError}
}

func (b badgerLogger) Errorf(f string, a ...interface{}) {
	m := msg(f, a)
	b.l.Error(m)
	if b.onSyncError != nil && strings.Contains(strings.ToLower(m), "sync") {
		b.onSyncError(fmt.Errorf("%w: %s", errBadgerSync, m))
	}
}

// The levels below are formatted only when they are logged: Badger calls
// Debugf on every write.

func (b badgerLogger) Warningf(f string, a ...interface{}) {
	if b.l.IsWarn() {
		b.l.Warn(msg(f, a))
	}
}

func (b badgerLogger) Infof(f string, a ...interface{}) {
	if b.l.IsDebug() {
		b.l.Debug(msg(f, a))
	}
}

func (b badgerLogger) Debugf(f string, a ...interface{}) {
	if b.l.IsTrace() {
		b.l.Trace(msg(f, a))
	}
}

func msg(f string, a []interface{}) string {
	return strings.TrimRight(fmt.Sprintf(f, a...), "\n")
}
