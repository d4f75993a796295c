# `authrelay bench`: pembangkit beban dan pengukuran skala antrean (Bahasa Indonesia).

bench-start = Membebani { $server } (TLS: { $tls }) dengan { $connections } koneksi: { $messages } pesan berukuran { $size } byte, { $per_session } per sesi (0 = satu sesi per koneksi).
bench-hold-start = Membuka { $connections } sesi terautentikasi ke { $server } dan membiarkannya menganggur selama { $secs } detik.
bench-replies = Balasan dan kesalahan selain pesan yang diterima (jumlah, tahap: balasan):
bench-label-accepted = Diterima
bench-label-failed = Gagal
bench-label-elapsed = Waktu berlalu
bench-label-msgs-per-sec = Pesan per detik
bench-label-sessions = Sesi dibuka
bench-label-sessions-per-sec = Sesi per detik
bench-label-resumed = Sesi TLS dilanjutkan
bench-label-latency = Latensi p50 / p90 / p99 / maks
bench-queue-filled = { $count } pesan dimasukkan ke antrean dalam { $secs } detik ({ $rate } per detik) di { $path }.
bench-queue-recovered = Antrean di { $path } dibuka dan dipindai seperti saat server dimulai:
bench-label-queued = Pesan ditemukan
bench-label-open = Membuka (pembersihan)
bench-label-scan = Memindai semua pesan
bench-label-rss = Memori residen
bench-label-peak-rss = Puncak memori residen

bench-flood-start = Membanjiri { $server } dengan { $attempts } percobaan AUTH sekaligus dari { $sources } alamat loopback (kata sandi salah untuk pengguna karangan).
bench-flood-replies = Bagaimana percobaan dijawab (jumlah, tahap: balasan):
bench-label-rss-before = Memori server sebelum
bench-label-rss-max = Memori server, tertinggi yang terlihat selama berjalan
bench-label-real-signed-in = Proses masuk klien nyata selama berjalan
bench-label-real-latency = Waktu masuk klien nyata pertama / median / maks
err-bench-no-server = tentukan server yang akan dibebani dengan --server, misalnya --server 127.0.0.1:2587.
err-bench-not-loopback = { $address } bukan alamat di mesin ini. authrelay bench hanya membebani server di loopback: gunakan 127.0.0.1:PORT atau [::1]:PORT.
err-bench-unresolvable = "{ $server }" bukan alamat server. Tulis sebagai HOST:PORT, misalnya 127.0.0.1:2587.
err-bench-zero = { $flag } harus bernilai paling sedikit 1.
err-bench-failures = { $failed } dari { $total } pesan tidak diterima. Balasan yang tercantum di atas menunjukkan pada tahap mana dan dengan kode apa; periksa pengguna, kata sandi, dan mode TLS yang diberikan ke authrelay bench.
err-bench-sessions-failed = { $failed } dari { $total } sesi tidak dapat dibuka. Balasan yang tercantum di atas menjelaskan penyebabnya; naikkan batas koneksi server (listen.max_connections) atau `ulimit -n` jika batasnya tercapai.
