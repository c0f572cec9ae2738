// Command talos-machinery answers questions about Talos machine configs with
// Talos's own code (github.com/siderolabs/talos/pkg/machinery), so that what a
// config means -- how a patch stack applies, whether a node would accept the
// result -- is decided by the code a real node runs, not by a re-implementation.
//
// It stands in for `talosctl machineconfig patch` and `talosctl validate`: the
// talosctl root module is not reachable through every Go module proxy, the
// machinery module is, and the two commands are thin layers over it.
//
// Protocol: a stream of JSON requests on stdin, one JSON answer per line on
// stdout, in order, so one process serves a whole cluster's configs.
//
//	{"op": "patch", "config": "<yaml>", "patches": ["<yaml or json>", ...]}
//	  -> {"config": "<yaml>"} or {"error": "...", "patch": i}
//	     (i: index of the patch that failed to load or apply)
//	{"op": "validate", "config": "<yaml>", "mode": "metal", "strict": true}
//	  -> {"errors": [{"document": "v1alpha1.Config", "message": "..."}],
//	      "warnings": ["..."], "load_error": "...",
//	      "top": ["v1alpha1.Config: 1 error occurred: ..."]}
//	     (errors: flattened, each with the document its wrappers name;
//	      top: the multierror's own items, as a node's error text holds them)
//	{"op": "load", "patches": ["..."]}
//	  -> {"kinds": ["strategic", "json6902", ...]} or {"error": "...", "patch": i}
//	{"op": "version"} -> {"version": "v1.12.5"}
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	jsonpatch "github.com/evanphx/json-patch"
	"github.com/hashicorp/go-multierror"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"github.com/siderolabs/talos/pkg/machinery/config/validation"
)

const machineryModule = "github.com/siderolabs/talos/pkg/machinery"

type request struct {
	Op      string   `json:"op"`
	Config  string   `json:"config"`
	Patches []string `json:"patches"`
	Mode    string   `json:"mode"`
	Strict  bool     `json:"strict"`
}

type problem struct {
	Document string `json:"document"`
	Message  string `json:"message"`
}

type answer struct {
	Config    *string   `json:"config,omitempty"`
	Error     string    `json:"error,omitempty"`
	Patch     *int      `json:"patch,omitempty"`
	Errors    []problem `json:"errors,omitempty"`
	Warnings  []string  `json:"warnings,omitempty"`
	LoadError string    `json:"load_error,omitempty"`
	Version   string    `json:"version,omitempty"`
	Kinds     []string  `json:"kinds,omitempty"`
	Top       []string  `json:"top,omitempty"`
}

// mode is a validation.RuntimeMode with the properties talosctl's --mode
// names carry (metal installs to disk; container runs inside a container).
type mode struct {
	name      string
	install   bool
	container bool
}

func (m mode) String() string        { return m.name }
func (m mode) RequiresInstall() bool { return m.install }
func (m mode) InContainer() bool     { return m.container }

var modes = map[string]mode{
	"metal":     {"metal", true, false},
	"cloud":     {"cloud", false, false},
	"container": {"container", false, true},
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if ok {
		for _, dep := range info.Deps {
			if dep.Path == machineryModule {
				return dep.Version
			}
		}
	}

	return "unknown"
}

func index(i int) *int { return &i }

// load classifies each patch as configpatcher.LoadPatch does: a text that
// loads as a config is a strategic merge patch, otherwise an RFC 6902 one.
func load(req request) answer {
	kinds := make([]string, 0, len(req.Patches))

	for i, text := range req.Patches {
		p, err := configpatcher.LoadPatch([]byte(text))
		if err != nil {
			return answer{Error: err.Error(), Patch: index(i)}
		}

		if _, ok := p.(jsonpatch.Patch); ok {
			kinds = append(kinds, "json6902")
		} else {
			kinds = append(kinds, "strategic")
		}
	}

	return answer{Kinds: kinds}
}

// patch applies texts in order; consecutive JSON patches act as one, as
// configpatcher.LoadPatches arranges for talosctl.
func patch(req request) answer {
	type group struct {
		first int
		patch configpatcher.Patch
	}

	var groups []group

	for i, text := range req.Patches {
		p, err := configpatcher.LoadPatch([]byte(text))
		if err != nil {
			return answer{Error: err.Error(), Patch: index(i)}
		}

		if jp, ok := p.(jsonpatch.Patch); ok && len(groups) > 0 {
			if last, ok := groups[len(groups)-1].patch.(jsonpatch.Patch); ok {
				groups[len(groups)-1].patch = append(last, jp...)

				continue
			}
		}

		groups = append(groups, group{i, p})
	}

	current := configpatcher.WithBytes([]byte(req.Config))

	for _, g := range groups {
		out, err := configpatcher.Apply(current, []configpatcher.Patch{g.patch})
		if err != nil {
			return answer{Error: err.Error(), Patch: index(g.first)}
		}

		current = out
	}

	text, err := current.Bytes()
	if err != nil {
		return answer{Error: err.Error(), Patch: index(-1)}
	}

	s := string(text)

	return answer{Config: &s}
}

// leaves lists each error of a (possibly nested, possibly wrapped)
// multierror, each with the text its wrappers put before it.
func leaves(err error) []string {
	var me *multierror.Error
	if errors.As(err, &me) && strings.HasSuffix(err.Error(), me.Error()) {
		outer := strings.TrimSuffix(err.Error(), me.Error())

		var result []string

		for _, inner := range me.Errors {
			for _, leaf := range leaves(inner) {
				result = append(result, outer+leaf)
			}
		}

		return result
	}

	return []string{err.Error()}
}

// flatten splits Container.Validate's error into its messages, each with the
// document whose validation produced it ("v1alpha1.Config", "HostnameConfig",
// "VolumeConfig/STATE"), as the container prefixes them; conflicts between
// documents carry no prefix.
func flatten(cfg coreconfig.Provider, err error) []problem {
	ids := []string{"v1alpha1.Config"}

	for _, doc := range cfg.Documents() {
		id := doc.Kind()
		if named, ok := doc.(config.NamedDocument); ok {
			id += "/" + named.Name()
		}

		ids = append(ids, id)
	}

	items := []error{err}

	var me *multierror.Error
	if errors.As(err, &me) {
		items = me.Errors
	}

	var result []problem

	for _, item := range items {
		document := ""
		inner := item

		for _, id := range ids {
			if unwrapped := errors.Unwrap(item); unwrapped != nil && item.Error() == id+": "+unwrapped.Error() {
				document, inner = id, unwrapped

				break
			}
		}

		for _, leaf := range leaves(inner) {
			result = append(result, problem{Document: document, Message: leaf})
		}
	}

	return result
}

func validate(req request) answer {
	m, ok := modes[req.Mode]
	if !ok {
		return answer{Error: fmt.Sprintf("unknown mode %q", req.Mode)}
	}

	cfg, err := configloader.NewFromBytes([]byte(req.Config))
	if err != nil {
		return answer{LoadError: err.Error()}
	}

	opts := []validation.Option{validation.WithLocal()}
	if req.Strict {
		opts = append(opts, validation.WithStrict())
	}

	warnings, err := cfg.Validate(m, opts...)

	result := answer{Warnings: warnings}
	if err != nil {
		result.Errors = flatten(cfg, err)

		var me *multierror.Error
		if errors.As(err, &me) {
			for _, item := range me.Errors {
				result.Top = append(result.Top, item.Error())
			}
		} else {
			result.Top = []string{err.Error()}
		}
	}

	return result
}

func serve(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(in))
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)

	for {
		var req request

		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return w.Flush()
			}

			return fmt.Errorf("reading request: %w", err)
		}

		var result answer

		switch req.Op {
		case "patch":
			result = patch(req)
		case "validate":
			result = validate(req)
		case "load":
			result = load(req)
		case "version":
			result = answer{Version: version()}
		default:
			result = answer{Error: fmt.Sprintf("unknown op %q", req.Op)}
		}

		if err := enc.Encode(result); err != nil {
			return err
		}

		// answer each request as it comes, so a caller may keep the process
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(version())

		return
	}

	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "talos-machinery:", err)
		os.Exit(1)
	}
}
