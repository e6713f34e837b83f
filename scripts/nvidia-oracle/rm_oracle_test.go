// gpuslice oracle: NVIDIA's device-plugin resource manager (internal/rm: replica expansion, resource renaming,
// request validation) on every device-plugin config gpuslice renders, for one GPU. Copied into internal/rm/ of
// an extracted NVIDIA/k8s-device-plugin tree by scripts/run-nvidia-oracle.sh. The GPU itself (NVML
// enumeration) is replaced by one Device record; everything after that is upstream code.
package rm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	spec "github.com/NVIDIA/k8s-device-plugin/api/config/v1"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

func errText(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

func TestGpusliceOracleRM(t *testing.T) {
	in, out := os.Getenv("GPUSLICE_CONFIGS"), os.Getenv("GPUSLICE_OUT")
	if in == "" || out == "" {
		t.Skip("GPUSLICE_CONFIGS and GPUSLICE_OUT not set")
	}
	const uuid = "GPU-00000000-0000-0000-0000-00000000h200"
	files, _ := filepath.Glob(filepath.Join(in, "*.yaml"))
	for _, f := range files {
		key := strings.TrimSuffix(filepath.Base(f), ".yaml")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var config spec.Config
		if err := yaml.Unmarshal(data, &config); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		gpu := &Device{
			Device:      pluginapi.Device{ID: uuid, Health: pluginapi.Healthy},
			Index:       "0",
			TotalMemory: 143771 << 20,
		}
		devices := DeviceMap{spec.ResourceName("nvidia.com/gpu"): Devices{uuid: gpu}}
		if rr := config.Sharing.ReplicatedResources(); rr != nil && len(rr.Resources) > 0 {
			devices, err = updateDeviceMapWithReplicas(rr, devices)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
		}
		result := map[string]any{"key": key, "strategy": string(config.Sharing.SharingStrategy())}
		resources := map[string]any{}
		for name, devs := range devices {
			r := &resourceManager{config: &config, resource: name, devices: devs}
			ids := make([]string, 0, len(devs))
			for id := range devs {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			physical := map[string]int{}
			for _, id := range ids {
				physical[AnnotatedID(id).GetID()]++
			}
			entry := map[string]any{
				"count":          len(ids),
				"ids":            ids,
				"replicasPerGpu": physical,
				"validateOne":    errText(r.ValidateRequest(AnnotatedIDs{ids[0]})),
			}
			if len(ids) >= 2 {
				entry["validateTwoReplicasOfOneGpu"] = errText(r.ValidateRequest(AnnotatedIDs(ids[:2])))
			}
			resources[string(name)] = entry
		}
		result["resources"] = resources
		b, _ := json.MarshalIndent(result, "", " ")
		if err := os.WriteFile(filepath.Join(out, key+".rm.json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
