// gpuslice oracle: NVIDIA's gpu-feature-discovery labelling code (package main, gfd.run in oneshot mode, the
// internal/lm labelers) run on every device-plugin config gpuslice renders, with the GPU replaced by the
// upstream test mock (internal/resource/testing) set to an H200's name, memory and compute capability.
// Copied into cmd/gpu-feature-discovery/ of an extracted NVIDIA/k8s-device-plugin tree by
// scripts/run-nvidia-oracle.sh; not part of gpuslice's Python package. Only the hardware is mocked.
package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	spec "github.com/NVIDIA/k8s-device-plugin/api/config/v1"
	"github.com/NVIDIA/k8s-device-plugin/internal/flags"
	"github.com/NVIDIA/k8s-device-plugin/internal/lm"
	rt "github.com/NVIDIA/k8s-device-plugin/internal/resource/testing"
	"github.com/NVIDIA/k8s-device-plugin/internal/vgpu"
)

// noVGPU: a node without vGPU devices (upstream's vgpu.NewMockVGPU reports one).
type noVGPU struct{}

func (noVGPU) Devices() ([]*vgpu.Device, error) { return nil, nil }

func TestGpusliceOracleGFD(t *testing.T) {
	in, out := os.Getenv("GPUSLICE_CONFIGS"), os.Getenv("GPUSLICE_OUT")
	if in == "" || out == "" {
		t.Skip("GPUSLICE_CONFIGS and GPUSLICE_OUT not set")
	}
	machine := filepath.Join(t.TempDir(), "product_name")
	if err := os.WriteFile(machine, []byte("oracle-node\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(in, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no configs in %s", in)
	}
	for _, f := range files {
		key := strings.TrimSuffix(filepath.Base(f), ".yaml")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// As api/config/v1 parseConfigFrom does (sigs.k8s.io/yaml into Config, the types' own unmarshalling).
		var config spec.Config
		if err := yaml.Unmarshal(data, &config); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if config.Flags.MigStrategy == nil {
			config.Flags.MigStrategy = ptr("none")
		}
		config.Flags.FailOnInitError = ptr(true)
		config.Flags.GFD = &spec.GFDCommandLineFlags{
			Oneshot:         ptr(true),
			OutputFile:      ptr(filepath.Join(out, key+".labels")),
			SleepInterval:   ptr(spec.Duration(time.Second)),
			NoTimestamp:     ptr(true),
			MachineTypeFile: ptr(machine),
		}
		dev := rt.NewDeviceMock(false)
		dev.GetNameFunc = func() (string, error) { return "NVIDIA H200", nil }
		dev.GetTotalMemoryMiBFunc = func() (uint64, error) { return 143771, nil }
		dev.GetCudaComputeCapabilityFunc = func() (int, int, error) { return 9, 0, nil }
		outputer, err := lm.NewOutputer(&config, flags.NodeConfig{}, flags.ClientSets{})
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		d := gfd{manager: rt.NewManagerMockWithDevices(dev), vgpu: noVGPU{}, config: &config, labelOutputer: outputer}
		if _, err := d.run(nil); err != nil {
			t.Fatalf("%s: gfd run: %v", key, err)
		}
	}
}
