package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// object is the part of a Kubernetes object the tests read.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec spec `yaml:"spec"`
	file string
}

type spec struct {
	// StatefulSet
	ServiceName          string       `yaml:"serviceName"`
	Replicas             *int         `yaml:"replicas"`
	PodManagementPolicy  string       `yaml:"podManagementPolicy"`
	Template             *podTemplate `yaml:"template"`
	VolumeClaimTemplates []struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	} `yaml:"volumeClaimTemplates"`
	// Service
	ClusterIP                string `yaml:"clusterIP"`
	PublishNotReadyAddresses bool   `yaml:"publishNotReadyAddresses"`
	Ports                    []struct {
		Name string `yaml:"name"`
		Port int    `yaml:"port"`
	} `yaml:"ports"`
	// PodDisruptionBudget
	MaxUnavailable *int `yaml:"maxUnavailable"`
}

type podTemplate struct {
	Spec struct {
		SecurityContext struct {
			RunAsNonRoot *bool `yaml:"runAsNonRoot"`
			RunAsUser    *int  `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name   string `yaml:"name"`
			Secret *struct {
				SecretName string `yaml:"secretName"`
			} `yaml:"secret"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// manifests parses every document of every deploy/kubernetes/*.yaml,
// refusing unknown-to-YAML syntax and empty documents.
func manifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob(deployFile("kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy/kubernetes/*.yaml: %v", err)
	}
	var objs []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(f), err)
			}
			if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
				t.Fatalf("%s: a document without kind, apiVersion or metadata.name", filepath.Base(f))
			}
			o.file = filepath.Base(f)
			objs = append(objs, o)
		}
	}
	return objs
}

// find returns the object of that kind and name, failing the test if
// there is none.
func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %q in deploy/kubernetes", kind, name)
	return object{}
}

// lockdContainer returns the StatefulSet's lockd container.
func lockdContainer(t *testing.T, sts object) container {
	t.Helper()
	if sts.Spec.Template == nil {
		t.Fatal("StatefulSet lockd has no pod template")
	}
	for _, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == "lockd" {
			return c
		}
	}
	t.Fatal("StatefulSet lockd has no container named lockd")
	return container{}
}

// Every flag in the lockd container's command and args, and every LOCKD_*
// variable in its environment, is one that lockd --help lists.
func TestKubernetesManifestsUseOnlyLockdFlags(t *testing.T) {
	c := lockdContainer(t, find(t, manifests(t), "StatefulSet", "lockd"))
	uses := flagsOf("statefulset.yaml args", c.Args)
	uses = append(uses, flagsOf("statefulset.yaml command", c.Command)...)
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "LOCKD_") {
			uses = append(uses, use{where: "statefulset.yaml env", name: e.Name, env: true})
		}
	}
	checkUses(t, lockdHelp(t), uses)
}

// The manifests describe three nodes with stable identities (the pod's
// name is the node's ID, every pod named in --initial-cluster at its
// headless Service name), probes on /readyz and /livez, certificates from
// a Secret, a volume per pod, a non-root container with a read-only root
// file system, and a disruption budget that keeps a quorum.
func TestKubernetesManifestsDescribeAThreeNodeCluster(t *testing.T) {
	objs := manifests(t)
	sts := find(t, objs, "StatefulSet", "lockd")
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("StatefulSet replicas = %v, want 3", sts.Spec.Replicas)
	}
	if sts.Spec.PodManagementPolicy != "Parallel" {
		t.Errorf("podManagementPolicy = %q, want Parallel (no node is ready before a quorum has started)", sts.Spec.PodManagementPolicy)
	}
	peer := find(t, objs, "Service", sts.Spec.ServiceName)
	if peer.Spec.ClusterIP != "None" || !peer.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q publishNotReadyAddresses %v, want a headless Service that publishes pods before they are ready",
			peer.Metadata.Name, peer.Spec.ClusterIP, peer.Spec.PublishNotReadyAddresses)
	}
	find(t, objs, "Service", "lockd")
	pdb := find(t, objs, "PodDisruptionBudget", "lockd")
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable = %v, want 1", pdb.Spec.MaxUnavailable)
	}

	c := lockdContainer(t, sts)
	args := map[string]string{}
	for _, a := range c.Args {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		args[k] = v
	}
	idFromPod := false
	for _, e := range c.Env {
		if e.Name == "LOCKD_ID" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			idFromPod = true
		}
	}
	if !idFromPod {
		t.Error("LOCKD_ID is not taken from the pod's name (metadata.name)")
	}
	var members []string
	for i := 0; i < 3; i++ {
		pod := sts.Metadata.Name + "-" + string(rune('0'+i))
		members = append(members, pod+"="+pod+"."+peer.Metadata.Name+":7100")
	}
	if got, want := args["initial-cluster"], strings.Join(members, ","); got != want {
		t.Errorf("--initial-cluster=%q, want %q", got, want)
	}
	for _, f := range []string{"cacert", "cert", "key"} {
		if !strings.HasPrefix(args[f], "/etc/lockd/tls/") {
			t.Errorf("--%s=%q, want a file of the Secret mounted at /etc/lockd/tls", f, args[f])
		}
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("the readiness probe is not an HTTP GET of /readyz")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/livez" {
		t.Error("the liveness probe is not an HTTP GET of /livez")
	}
	httpPort := map[string]int{}
	for _, p := range c.Ports {
		httpPort[p.Name] = p.ContainerPort
	}
	if !strings.HasSuffix(args["http-addr"], ":7200") || httpPort["http"] != 7200 {
		t.Errorf("--http-addr=%q and container port http=%d disagree (the probes use the port)", args["http-addr"], httpPort["http"])
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	secret := ""
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil && mounts[v.Name] == "/etc/lockd/tls" {
			secret = v.Secret.SecretName
		}
	}
	if secret == "" {
		t.Error("no Secret is mounted at /etc/lockd/tls")
	}
	claims := false
	for _, v := range sts.Spec.VolumeClaimTemplates {
		if mounts[v.Metadata.Name] == args["data-dir"] && args["data-dir"] != "" {
			claims = true
		}
	}
	if !claims {
		t.Errorf("--data-dir=%q is not on a volume claim template", args["data-dir"])
	}
	psc := sts.Spec.Template.Spec.SecurityContext
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("the pod does not run as a non-root user")
	}
	csc := c.SecurityContext
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("the container's root file system is not read-only")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("the container allows privilege escalation")
	}
}
