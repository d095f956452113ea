// datasets/datagen.cc: the workloads, and the parallel writing of a planned dataset.
#include "datasets/datagen.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "datasets/bert_hdf5.h"
#include "datasets/cifar10.h"
#include "datasets/dlrm_rows.h"
#include "datasets/generic_hdf5.h"
#include "datasets/unet3d_cases.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// Flushes a written file to the disk: the dataset is on disk when datagen says it is (and
// write bandwidth is measured as dd's conv=fdatasync measures it).
void sync_to_disk(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  const bool synced = fd >= 0 && ::fdatasync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!synced) throw UsageError(path.string() + ": cannot flush to disk");
}

// Asks the kernel to start writing the files' dirty pages to the disk now, without waiting:
// the disk works while the writers generate, and each file's final flush finds little left.
void start_writeback(std::mutex& mutex, const std::set<fs::path>& files) {
  std::vector<fs::path> now;
  {
    std::lock_guard<std::mutex> lock(mutex);
    now.assign(files.begin(), files.end());
  }
  for (const fs::path& path : now) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) continue;  // not created yet
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    ::close(fd);
  }
}

// Whether `folder` may be replaced: absent, empty, or an earlier datagen's output.
void check_replaceable(const fs::path& folder) {
  if (!fs::exists(folder)) return;
  if (!fs::is_directory(folder)) {
    throw UsageError("flag -o: " + folder.string() + " exists and is not a folder");
  }
  if (fs::is_empty(folder) || fs::exists(folder / kDatagenMarker)) return;
  throw UsageError("flag -o: " + folder.string() +
                   " exists and was not written by repipe datagen; choose a new folder");
}

}  // namespace

std::vector<PlannedFile> plan_record_files(const DatagenTarget& target,
                                           const RecordFileLayout& layout, std::uint64_t seed,
                                           const std::string& workload) {
  auto files_for = [&](std::int64_t records) {
    return (records + layout.max_per_file - 1) / layout.max_per_file;
  };
  auto bytes_of = [&](std::int64_t train, std::int64_t held_out) {
    return (train + held_out) * layout.record_bytes +
           (files_for(train) + files_for(held_out)) * layout.file_overhead;
  };
  std::int64_t train = target.samples, held_out = target.samples / 5;
  if (target.bytes > 0) {
    // The most records whose files fit: start from the records alone and step down, since
    // each file's overhead costs records (a few steps at most).
    std::int64_t records = target.bytes / layout.record_bytes;
    for (; records > 0; --records) {
      train = records * 5 / 6;
      held_out = records - train;
      if (bytes_of(train, held_out) <= target.bytes) break;
    }
  }
  if (train < 1 || held_out < 1) {
    throw UsageError(workload + ": needs at least 1 training and 1 held-out record (" +
                     std::to_string(bytes_of(1, 1)) + " bytes, or --samples 5), got " +
                     std::to_string(train) + " and " + std::to_string(held_out));
  }
  std::vector<PlannedFile> files;
  for (const auto& [folder, records] :
       {std::pair{layout.train_folder, train}, std::pair{layout.held_out_folder, held_out}}) {
    const std::int64_t count = files_for(records);
    for (std::int64_t f = 0; f < count; ++f) {
      char name[64];
      std::snprintf(name, sizeof name, "/part-%05lld-of-%05lld", static_cast<long long>(f),
                    static_cast<long long>(count));
      const std::int64_t first = f * layout.max_per_file;
      const std::int64_t n = std::min(layout.max_per_file, records - first);
      files.push_back({folder + name + layout.extension, n, first,
                       n * layout.record_bytes + layout.file_overhead, seed});
    }
  }
  return files;
}

const std::vector<std::string>& datagen_workloads() {
  static const std::vector<std::string> names = {"cifar10", "bert", "unet3d", "dlrm", "generic"};
  return names;
}

std::unique_ptr<DatasetWriter> make_dataset_writer(const std::string& workload,
                                                   const GenericSamples& generic) {
  if (workload == "cifar10") return make_cifar10_writer();
  if (workload == "bert") return make_bert_writer();
  if (workload == "dlrm") return make_dlrm_writer();
  if (workload == "unet3d") return make_unet3d_writer();
  if (workload == "generic") return make_generic_writer(generic.shape, generic.classes);
  std::string known;
  for (const std::string& name : datagen_workloads()) known += (known.empty() ? "" : "|") + name;
  throw UsageError("flag --workload: expected " + known + ", got '" + workload + "'");
}

DatagenSummary generate_dataset(
    const DatasetWriter& writer, const DatagenTarget& target, const fs::path& folder,
    std::uint64_t seed, int jobs,
    const std::function<void(std::int64_t, std::int64_t)>& on_progress) {
  REPIPE_CHECK((target.bytes > 0) != (target.samples > 0), "give bytes or samples");
  check_replaceable(folder);
  const std::vector<PlannedFile> files = writer.plan(target, seed);
  DatagenSummary summary;
  summary.files = static_cast<std::int64_t>(files.size());
  for (const PlannedFile& f : files) {
    summary.samples += f.samples;
    summary.bytes += f.bytes;
  }

  const fs::path partial = folder.string() + ".partial";
  fs::remove_all(partial);
  create_folder(partial);
  std::atomic<std::int64_t> bytes_done{0};
  std::atomic<std::size_t> next_file{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  std::mutex writing_mutex;
  std::set<fs::path> writing;  // files being written, for the flusher below
  // Each writer takes the next planned file until none is left or one of them failed.
  auto write_files = [&] {
    for (std::size_t i = next_file++; i < files.size() && !failed; i = next_file++) {
      try {
        const fs::path path = partial / files[i].name;
        create_folder(path.parent_path());
        {
          std::lock_guard<std::mutex> lock(writing_mutex);
          writing.insert(path);
        }
        writer.write(files[i], path, [&](std::int64_t bytes) { bytes_done += bytes; });
        {
          std::lock_guard<std::mutex> lock(writing_mutex);
          writing.erase(path);
        }
        sync_to_disk(path);
        const auto size = static_cast<std::int64_t>(fs::file_size(path));
        REPIPE_CHECK(size == files[i].bytes,
                     files[i].name << " has " << size << " bytes, planned " << files[i].bytes);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  const int threads = std::max(1, std::min<int>(jobs, static_cast<int>(files.size())));
  std::mutex done_mutex;
  std::condition_variable writer_done;
  int running = threads;
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&] {
      write_files();
      std::lock_guard<std::mutex> lock(done_mutex);
      --running;
      writer_done.notify_one();
    });
  }
  // The calling thread reports progress about ten times a second while the writers work, and
  // starts the disk writing what they wrote so far.
  {
    std::unique_lock<std::mutex> lock(done_mutex);
    while (
        !writer_done.wait_for(lock, std::chrono::milliseconds(100), [&] { return running == 0; })) {
      if (on_progress) on_progress(bytes_done.load(), summary.bytes);
      start_writeback(writing_mutex, writing);
    }
  }
  for (std::thread& t : writers) t.join();
  if (error) {
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    std::rethrow_exception(error);
  }
  writer.write_extras(partial);
  write_file_atomically(partial / kDatagenMarker,
                        "written by repipe datagen: " + std::to_string(summary.files) + " files, " +
                            std::to_string(summary.samples) + " samples, " +
                            std::to_string(summary.bytes) + " bytes, seed " + std::to_string(seed) +
                            "\n");
  fs::remove_all(folder);
  fs::rename(partial, folder);
  if (on_progress) on_progress(summary.bytes, summary.bytes);
  return summary;
}

}  // namespace repipe
