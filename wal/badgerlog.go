package wal

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// opPhrases and errnoPhrases mark a line Badger logs about a failed write it will not
// return to any caller (it retries a memtable flush for ever; a failed
// compaction or sync of its own is only logged). Matched lower-case.
// "sync" and "flushing memtable" name the operation; the others are the
// texts of the errnos a failing disk returns (ENOSPC, EIO, EROFS, EDQUOT),
// whatever the operation.
var (
	opPhrases    = []string{"sync", "flushing memtable", "flush memtable"}
	errnoPhrases = []string{
		"no space left on device",
		"input/output error",
		"read-only file system",
		"disk quota exceeded",
	}
)

// fatalLine reports whether a logged line says a write failed for good.
func fatalLine(m string) bool { return contains(m, opPhrases) || contains(m, errnoPhrases) }

// contains reports whether m, lower-cased, contains one of phrases.
func contains(m string, phrases []string) bool {
	m = strings.ToLower(m)
	for _, p := range phrases {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// badgerLogger adapts Badger's printf-style Logger to hclog. Badger's info
// chatter (compactions, table flushes) goes to Debug and its debug to Trace,
// so a server at Info level hears only warnings and errors.
//
// Badger logs some failures instead of returning them: a failed fsync of
// its own, a memtable flush it then retries for ever (a full disk), a
// failed compaction. onFailure hears of every error line that mentions a
// sync or a flush, and of every error or warning line that carries a
// failing disk's errno (fatalLine), wrapped in ErrBackground, so that the
// WAL fails the next commit and Health reports it at once. (The syncs that
// make commits durable are the WAL's own, see logSyncer, which returns
// their errors; this catches what Badger does on its own.)
type badgerLogger struct {
	l         hclog.Logger
	onFailure func(error)
}

func newBadgerLogger(l hclog.Logger, onFailure func(error)) badgerLogger {
	if l == nil {
		l = hclog.NewNullLogger()
	}
	return badgerLogger{l: l.Named("badger"), onFailure: onFailure}
}

func (b badgerLogger) Errorf(f string, a ...interface{}) {
	m := msg(f, a)
	b.l.Error(m)
	b.check(m)
}

// check reports m to onFailure if it tells of a failed write.
func (b badgerLogger) check(m string) {
	if b.onFailure != nil && fatalLine(m) {
		b.onFailure(fmt.Errorf("%w: %s", ErrBackground, m))
	}
}

// The levels below are formatted only when they are logged, except that a
// warning is always formatted to be checked: Badger calls Debugf on every
// write, Warningf only when something went wrong.

func (b badgerLogger) Warningf(f string, a ...interface{}) {
	m := msg(f, a)
	if b.l.IsWarn() {
		b.l.Warn(m)
	}
	// A warning that only mentions a sync or a flush is not a failure.
	if b.onFailure != nil && contains(m, errnoPhrases) {
		b.onFailure(fmt.Errorf("%w: %s", ErrBackground, m))
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
