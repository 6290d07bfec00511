// Package deploy holds no code: its tests check the deployment files in
// this directory against the binaries they run, so that the files cannot
// rot.
//
//   - systemd/lockd.service passes `systemd-analyze verify` and is rated
//     well hardened by `systemd-analyze security` (where the machine has
//     systemd), and every lockd flag in it and every LOCKD_*
//     variable in systemd/lockd.env is one that `lockd --help` lists.
//   - kubernetes/*.yaml parse, hold the objects the docs describe (a
//     StatefulSet of three with its headless Service, a client Service, a
//     PodDisruptionBudget), probe /readyz and /livez on the HTTP port, and
//     use only flags and LOCKD_* variables that `lockd --help` lists.
//   - docker-compose.yml uses only flags the lockd and lockctl binaries
//     accept; where Docker is present (and not under -short), the cluster
//     it describes is started and lockctl on the host works through
//     each follower alone with the certificates the compose file made.
//
// The tests build lockd and lockctl from this module (CGO_ENABLED=0, as
// the image needs) once per run.
package deploy
