package rpc

import (
	"fmt"

	"github.com/lockd/lockd/internal/faults"
)

// init sets the hook through which this module's tests and harnesses
// attach a fault injector to a Config (see internal/faults); nothing
// outside the module can.
func init() {
	faults.AttachRPC = func(cfg any, f *faults.Injector) {
		c, ok := cfg.(*Config)
		if !ok {
			panic(fmt.Sprintf("faults.AttachRPC: %T is not an *rpc.Config", cfg))
		}
		c.faults = f
	}
}

// registerFaults registers an open link with the fault injector, if any,
// under keys; if one of them is blocked it closes the link and returns
// the error (wrapping faults.ErrBlocked).
func (l *link) registerFaults(keys ...string) error {
	if l.cfg.faults == nil {
		return nil
	}
	forget, err := l.cfg.faults.Register(l.fail, keys...)
	if err != nil {
		l.fail(err)
		return err
	}
	l.forgetFaults.Store(&forget)
	select {
	case <-l.done: // failed before the store, so fail could not forget it
		forget()
	default:
	}
	return nil
}
