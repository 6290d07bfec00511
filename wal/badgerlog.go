package wal

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// badgerLogger adapts Badger's printf-style Logger to hclog. Badger's info
// chatter (compactions, table flushes) goes to Debug and its debug to Trace,
// so a server at Info level hears only warnings and errors.
type badgerLogger struct{ l hclog.Logger }

func (b badgerLogger) Errorf(f string, a ...interface{})   { b.l.Error(msg(f, a)) }
func (b badgerLogger) Warningf(f string, a ...interface{}) { b.l.Warn(msg(f, a)) }
func (b badgerLogger) Infof(f string, a ...interface{})    { b.l.Debug(msg(f, a)) }
func (b badgerLogger) Debugf(f string, a ...interface{})   { b.l.Trace(msg(f, a)) }

func msg(f string, a []interface{}) string {
	return strings.TrimRight(fmt.Sprintf(f, a...), "\n")
}

func newBadgerLogger(l hclog.Logger) badgerLogger {
	if l == nil {
		l = hclog.NewNullLogger()
	}
	return badgerLogger{l.Named("badger")}
}
