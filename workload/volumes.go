package workload

import corev1 "k8s.io/api/core/v1"

// canonicalVolume clears a volume's defaulted fields; see CanonicalTemplate.
func canonicalVolume(v *corev1.Volume) {
	if v.VolumeSource == (corev1.VolumeSource{}) {
		// SetDefaults_Volume: a volume with no source is an emptyDir.
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if s := v.Secret; s != nil {
		s.DefaultMode = clearMode(s.DefaultMode)
	}
	if s := v.ConfigMap; s != nil {
		s.DefaultMode = clearMode(s.DefaultMode)
	}
	if s := v.DownwardAPI; s != nil {
		s.DefaultMode = clearMode(s.DefaultMode)
		canonicalDownwardAPI(s.Items)
	}
	if s := v.Projected; s != nil {
		s.DefaultMode = clearMode(s.DefaultMode)
		for i := range s.Sources {
			src := &s.Sources[i]
			if src.DownwardAPI != nil {
				canonicalDownwardAPI(src.DownwardAPI.Items)
			}
			if t := src.ServiceAccountToken; t != nil && t.ExpirationSeconds != nil && *t.ExpirationSeconds == defaultTokenExpiration {
				t.ExpirationSeconds = nil
			}
		}
	}
	if s := v.HostPath; s != nil && s.Type != nil && *s.Type == corev1.HostPathUnset {
		s.Type = nil
	}
	if s := v.Ephemeral; s != nil && s.VolumeClaimTemplate != nil {
		spec := &s.VolumeClaimTemplate.Spec
		if spec.VolumeMode != nil && *spec.VolumeMode == corev1.PersistentVolumeFilesystem {
			spec.VolumeMode = nil
		}
	}
	if s := v.Image; s != nil {
		// Derived from the tag, like a container's imagePullPolicy.
		s.PullPolicy = ""
	}
	canonicalInTreeVolume(v)
}

// canonicalInTreeVolume clears the +default values of the deprecated in-tree
// volume plugins that still have them.
func canonicalInTreeVolume(v *corev1.Volume) {
	if s := v.RBD; s != nil {
		s.RBDPool = clearString(s.RBDPool, defaultRBDPool)
		s.RadosUser = clearString(s.RadosUser, defaultRBDUser)
		s.Keyring = clearString(s.Keyring, defaultRBDKeyring)
	}
	if s := v.ISCSI; s != nil {
		s.ISCSIInterface = clearString(s.ISCSIInterface, defaultISCSIInterface)
	}
	if s := v.ScaleIO; s != nil {
		s.StorageMode = clearString(s.StorageMode, defaultScaleIOMode)
		s.FSType = clearString(s.FSType, defaultScaleIOFSType)
	}
	if s := v.AzureDisk; s != nil {
		if s.CachingMode != nil && *s.CachingMode == corev1.AzureDataDiskCachingReadWrite {
			s.CachingMode = nil
		}
		if s.FSType != nil && *s.FSType == defaultAzureDiskFSType {
			s.FSType = nil
		}
		if s.ReadOnly != nil && !*s.ReadOnly {
			s.ReadOnly = nil
		}
		if s.Kind != nil && *s.Kind == corev1.AzureSharedBlobDisk {
			s.Kind = nil
		}
	}
}

// canonicalDownwardAPI clears the default apiVersion of downward API items.
func canonicalDownwardAPI(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		canonicalFieldRef(items[i].FieldRef)
	}
}

// clearMode returns nil for the default file mode 0644, else mode.
func clearMode(mode *int32) *int32 {
	if mode != nil && *mode == defaultFileMode {
		return nil
	}
	return mode
}

// clearString returns "" for the default value def, else s.
func clearString(s, def string) string {
	if s == def {
		return ""
	}
	return s
}
