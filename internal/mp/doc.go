// Package mp writes and reads the few msgpack forms lockd's hot messages
// use, without reflection, byte for byte as go-msgpack (the wire and log
// codec everywhere else) writes them: maps of fields in name order, the
// smallest integer forms (go-msgpack's choice for signed values), str and
// bin with their 8-bit forms.
//
// A Reader accepts exactly those forms and fails on anything else, so a
// caller can try it first and fall back to go-msgpack, which remains the
// definition of what decodes. Callers test their encoders against
// go-msgpack's output.
package mp
