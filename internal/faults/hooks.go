package faults

// Hooks that attach an Injector to a configuration which keeps it in an
// unexported field, so that only this module can set one. Each is set
// once, by the init function of the package that owns the configuration,
// and never changed after: the one kind of package-level variable the
// project allows. cfg is a pointer to that package's Config; any other
// value panics. Attaching nil removes the Injector.
//
// They take cfg as any because the owning packages import this one.
var (
	// AttachRPC attaches f to an *rpc.Config: Dial and Server with that
	// configuration register their connections with f. Set by package rpc.
	AttachRPC func(cfg any, f *Injector)
	// AttachClient attaches f to a *client.Config: a Client made from it
	// dials with f attached, so f cuts its connections. Set by package
	// client.
	AttachClient func(cfg any, f *Injector)
)
