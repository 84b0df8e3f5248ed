//! A Kubernetes Secret/ConfigMap volume as the kubelet writes it, for reload tests: the real
//! files live in a timestamped `..<gen>` directory, `..data` points at it, and every visible
//! name is a symlink through `..data`. An update writes a new directory, points `..data_tmp`
//! at it, renames `..data_tmp` over `..data` (one atomic step for all files) and deletes the
//! old directory.

use std::path::{Path, PathBuf};

pub struct KubeVolume {
    dir: PathBuf,
    generation: u32,
}

impl KubeVolume {
    pub fn create<C: AsRef<[u8]>>(dir: &Path, files: &[(&str, C)]) -> KubeVolume {
        std::fs::create_dir_all(dir).unwrap();
        let mut v = KubeVolume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        let data = v.write_generation(files);
        std::os::unix::fs::symlink(&data, dir.join("..data")).unwrap();
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        v
    }

    fn write_generation<C: AsRef<[u8]>>(&mut self, files: &[(&str, C)]) -> String {
        self.generation += 1;
        let name = format!(
            "..2026_01_01_00_00_{:02}.{}",
            self.generation,
            1000 + self.generation
        );
        let d = self.dir.join(&name);
        std::fs::create_dir(&d).unwrap();
        for (file, contents) in files {
            std::fs::write(d.join(file), contents).unwrap();
        }
        name
    }

    /// Swap in a new generation holding `files` (the same names as at `create`).
    pub fn update<C: AsRef<[u8]>>(&mut self, files: &[(&str, C)]) {
        let old = std::fs::read_link(self.dir.join("..data")).unwrap();
        let new = self.write_generation(files);
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&new, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        std::fs::remove_dir_all(self.dir.join(old)).unwrap();
    }

    /// The visible path of `name` (a symlink through `..data`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}
