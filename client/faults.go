package client

import (
	"fmt"

	"github.com/lockd/lockd/internal/faults"
)

// init sets the hook through which this module's tests and harnesses
// attach a fault injector to a Config (see internal/faults); nothing
// outside the module can.
func init() {
	faults.AttachClient = func(cfg any, f *faults.Injector) {
		c, ok := cfg.(*Config)
		if !ok {
			panic(fmt.Sprintf("faults.AttachClient: %T is not a *client.Config", cfg))
		}
		c.faults = f
	}
}
