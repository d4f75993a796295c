# authrelay import m365 / import status (crates/migrate), lembar penyiapan, dan halaman pusat admin.

## Kesalahan membaca ekspor
import-err-read = tidak dapat membaca { $file }: { $reason }.
import-err-encoding = { $file } bukan teks UTF-8 maupun UTF-16. Ekspor ulang sebagai CSV (UTF-8), atau di PowerShell tambahkan -Encoding UTF8 pada Export-Csv.
import-err-empty = { $file } tidak memiliki baris judul. Ekspor ulang laporan beserta nama kolomnya.
import-err-syntax = { $file } baris { $line } tidak dapat dibaca sebagai CSV: { $reason }.
import-err-missing-column = { $file } tidak memiliki kolom "{ $column }" (kolomnya: { $found }). Ekspor ulang dengan kolom itu, atau sebutkan kolomnya dengan --column { $key }=JUDUL.
import-err-no-such-column = { $file } tidak memiliki kolom bernama "{ $header }" (kolomnya: { $found }). Periksa nilai --column.
import-err-bad-value = { $file } baris { $line }, kolom "{ $column }": "{ $value }" tidak dapat dibaca. Perbaiki sel itu atau ekspor ulang laporan.
import-err-domain-mismatch = { $file } baris { $line }: { $address } tidak termasuk domain "{ $domain }" yang tertulis di sebelahnya. Perbaiki barisnya.
import-err-conflict = { $file } baris { $line }: { $address } muncul lagi dengan nilai SmtpClientAuthenticationDisabled yang berbeda. Sisakan satu baris per kotak surat.
import-err-no-senders = { $file } tidak memuat pengirim. Pilih rentang tanggal yang lebih panjang di laporan (hingga 90 hari) lalu ekspor ulang.
import-err-bad-site = "{ $value }" bukan DOMAIN=CIDR, ALAMAT=CIDR, atau CIDR, misalnya --site-cidr contoso.com=192.0.2.0/24.
import-err-bad-column = "{ $value }" bukan KUNCI=JUDUL dengan KUNCI salah satu dari: { $keys }.
import-err-bad-org-name = "{ $value }" bukan nama organisasi: gunakan 1 sampai 64 karakter tanpa karakter kontrol.
import-err-directory = direktori menolak perubahan: { $reason }.
err-import-needs-sheets = --apply menerbitkan { $count } kredensial perangkat yang hanya ditampilkan sekali: tambahkan --sheets DIR untuk menulis lembar penyiapannya.
err-import-sheets-dir = tidak dapat menulis lembar penyiapan ke { $dir }: { $reason }.
err-import-stopped = impor berhenti setelah { $count } perubahan: { $reason }. Perbaiki penyebabnya lalu jalankan perintah yang sama lagi; yang sudah dilakukan tetap ada dan tidak diulang.
err-import-not-done = { $pending } dari { $total } pengirim yang diimpor belum masuk dengan kredensial perangkatnya.

## Rencana
import-plan-title = Rencana impor (uji coba: tidak ada yang diubah; tambahkan --apply untuk menjalankan perubahan ini):
import-plan-title-apply = Mengimpor:
import-plan-orgs = Organisasi:
import-plan-org-create = { "  " }buat organisasi "{ $name }" dengan domain { $domains }
import-plan-org-exists = { "  " }organisasi "{ $name }" sudah ada ({ $domains })
import-plan-org-add-domain = { "  " }tambahkan domain { $domain } ke "{ $name }"
import-plan-org-smtp-auth-change = { "    " }SMTP Terautentikasi (seluruh organisasi): { $before } → { $after }, seperti di Microsoft 365 (SmtpClientAuthenticationDisabled = { $value })
import-plan-org-smtp-auth-same = { "    " }SMTP Terautentikasi (seluruh organisasi): { $after }, seperti di Microsoft 365
import-plan-org-smtp-auth-none = { "    " }SMTP Terautentikasi (seluruh organisasi): { $after } (tidak ada berkas --org-settings, jadi tidak disalin)
import-plan-local-domains = { "  " }Catatan: mulai sekarang authrelay mengirim surat untuk { $domains } ke kotak suratnya sendiri dan menolak alamat di sana yang tidak dikenalnya. Perangkat yang mengirim surat ke rekan di domain ini hanya tetap berfungsi untuk kotak surat yang diimpor di sini.
import-plan-senders = Pengirim ({ $count }):
import-plan-sender = { "  " }{ $address }: { $messages } pesan; TLS 1.0 { $tls10 }, TLS 1.1 { $tls11 }, TLS 1.2 { $tls12 }
import-plan-mailbox-create = kotak surat: dibuat di "{ $org }"
import-plan-mailbox-exists = kotak surat: sudah ada di "{ $org }"
import-plan-smtp-auth = SMTP Terautentikasi: { $m365 } di Microsoft 365; di sini { $before } → { $after } ({ $effective })
import-m365-true = True (nonaktif untuk kotak surat)
import-m365-false = False (aktif untuk kotak surat)
import-m365-unset = kosong (mengikuti organisasi)
import-m365-absent = tidak ada di ekspor kotak surat
import-effective-on-mailbox = aktif, diatur pada kotak surat
import-effective-on-org = aktif, dari organisasi
import-effective-off-mailbox = nonaktif, diatur pada kotak surat
import-effective-off-org = nonaktif, dari organisasi
import-plan-credential-create = kredensial perangkat "{ $name }": dibuat (dapat dipakai dari alamat mana pun)
import-plan-credential-create-allow = kredensial perangkat "{ $name }": dibuat, hanya dapat dipakai dari { $allow }
import-plan-credential-exists = kredensial perangkat "{ $name }": sudah ada, tidak diubah
import-plan-basic = memakai autentikasi dasar (kata sandi) di Microsoft 365
import-plan-oauth = memakai OAuth di Microsoft 365; di sini juga bisa masuk dengan OAuth (lihat [oauth]), kredensial perangkat tetap diterbitkan
import-plan-protocol-unknown = laporan tidak memiliki kolom protokol autentikasi: dianggap autentikasi dasar
import-plan-from-export = tidak ada di laporan, tetapi SMTP AUTH dihidupkan untuknya di Microsoft 365
import-plan-legacy = ⚠ memakai TLS 1.0 ({ $tls10 }) atau 1.1 ({ $tls11 }): perlu listener lama, karena authrelay hanya menerima TLS 1.2 dan 1.3; perbarui firmware perangkat dulu (lihat lembar penyiapannya)
import-plan-inactive = tidak mengirim apa pun selama periode laporan: tambahkan --skip-inactive untuk melewatinya
import-plan-skipped = dilewati (--skip-inactive): tidak mengirim apa pun selama periode laporan
import-plan-blocked-smtp-auth = ⚠ tetap akan ditolak: SMTP Terautentikasi nonaktif untuknya di sini. Perbaikan: authrelay user set { $address } --smtp-auth enabled
import-plan-blocked-policy = ⚠ tetap akan ditolak: "{ $org }" memblokir kredensial perangkat. Perbaikan: authrelay org set "{ $org }" --device-credentials allowed
import-plan-blocked-sign-in = ⚠ tetap akan ditolak: masuk diblokir untuknya. Perbaikan: authrelay user set { $address } --sign-in allowed
import-plan-not-imported = { "  " }{ $count } kotak surat lain di ekspor kotak surat tidak pernah mengirim dengan SMTP AUTH dan SMTP AUTH-nya tidak dihidupkan: tidak diimpor.
import-plan-summary = { $senders } pengirim akan diimpor: { $basic } memakai autentikasi dasar, { $legacy } perlu listener lama (TLS 1.0/1.1), { $inactive } tidak mengirim apa pun selama periode laporan ({ $skipped } dilewati).
import-plan-changes = { $changes } perubahan. Jalankan perintah yang sama dengan --apply --sheets DIR untuk menerapkannya dan menulis lembar penyiapan per perangkat.
import-plan-nothing = Tidak ada yang diubah: semua isi berkas ini sudah diimpor.
import-applied = Selesai: { $count } perubahan dibuat.
import-applied-nothing = Tidak ada yang berubah: semua isi berkas ini sudah diimpor sebelumnya.
import-sheets-written = { $count } lembar penyiapan ditulis ke { $dir } (index.html memuat semuanya, satu per halaman). Tiap lembar menampilkan kredensial perangkatnya, yang tidak ditampilkan lagi: cetak lalu hapus berkasnya.
import-next-status = Pantau peralihan dengan `authrelay import status`.

## Daftar periksa
import-status-none = Belum ada yang diimpor. Mulai dengan `authrelay import m365 --report BERKAS.csv`.
import-status-header = PENGIRIM                         ORGANISASI       STATUS         RINCIAN
import-state-done = selesai
import-state-failing = masih gagal
import-state-not-seen = belum terlihat
import-state-no-credential = tanpa kredensial
import-status-done = masuk dengan kredensial perangkatnya pada { $when } dari { $ip }
import-status-failing = percobaan terakhir ditolak pada { $when } dari { $ip } oleh pemeriksaan "{ $check }" ({ $reply }); jalankan authrelay doctor { $address } --explain-last
import-status-not-seen = belum ada upaya masuk sejak impor
import-status-no-credential = kredensial perangkatnya "{ $name }" sudah dicabut; impor lagi untuk menerbitkan yang baru
import-status-legacy = { " " }(perlu listener lama: TLS 1.0/1.1)
import-status-summary = { $done } dari { $total } pengirim selesai; { $failing } masih gagal, { $waiting } belum terlihat.

## Lembar penyiapan
sheet-title-all = Lembar penyiapan ({ $count } perangkat)
sheet-heading = Lembar penyiapan: { $address }
sheet-intro = Masukkan nilai ini di pengaturan e-mail (SMTP) perangkat. Perangkat ini mengirim sebagai { $address } untuk "{ $org }" melalui authrelay, bukan Microsoft 365.
sheet-server = Server SMTP
sheet-port = Port
sheet-port-alt-tls = atau { $port } dengan SSL/TLS
sheet-tls = Enkripsi
sheet-tls-starttls = STARTTLS (sering disebut "TLS"), TLS 1.2 atau lebih baru
sheet-tls-implicit = SSL/TLS (TLS implisit), TLS 1.2 atau lebih baru
sheet-auth = Autentikasi SMTP
sheet-auth-value = aktif: LOGIN atau PLAIN (bukan "POP before SMTP")
sheet-user = Nama pengguna
sheet-password = Kata sandi
sheet-from = Alamat pengirim (From)
sheet-allowed-from = Hanya berfungsi dari
sheet-allow-any = alamat mana pun
sheet-qr = Kode QR memuat pengaturan yang sama sebagai teks, untuk ponsel atau perangkat yang membaca kode QR.
sheet-once = Kata sandi ini adalah kredensial perangkat: hanya dicetak di lembar ini dan tidak pernah ditampilkan lagi. Simpan lembar ini seperti kata sandi dan hancurkan setelah penyiapan.
sheet-credential-note = Ini kredensial perangkat "{ $name }" (tag { $tag }): hanya untuk mengirim surat sebagai alamat ini, tidak pernah untuk masuk ke tempat lain. Yang hilang dicabut dan diganti.
sheet-legacy-heading = ⚠ Perangkat ini memakai TLS lama di Microsoft 365
sheet-legacy-body = Laporan Microsoft 365 menunjukkan { $address } mengirim dengan TLS 1.0 ({ $tls10 }) atau TLS 1.1 ({ $tls11 }). authrelay hanya menerima TLS 1.2 dan 1.3, jadi perangkat ini perlu pembaruan firmware atau listener lama.
sheet-tls10-heading = Jika perangkat hanya mendukung TLS 1.0
sheet-tls10-body = authrelay hanya menerima TLS 1.2 dan 1.3. Perangkat yang tidak menawarkan versi lebih baru gagal saat jabat tangan TLS, sebelum masuk, sehingga log masuk tidak mencatat apa pun untuknya.
sheet-tls-fix = Yang harus dilakukan: pasang firmware terbaru dari pembuatnya dan hidupkan TLS 1.2 di pengaturan keamanannya (banyak printer buatan sejak 2016 bisa). Jika tidak ada firmware dengan TLS 1.2, minta listener lama kepada administrator — lihat "Moving from Microsoft 365 before basic auth switches off" di README authrelay — atau ganti perangkatnya.
sheet-check-heading = Periksa setelahnya
sheet-check-body = Kirim pindaian atau pesan uji, lalu administrator menjalankan:

## Pusat admin
nav-import = Impor dari Microsoft 365
nav-import-status = Daftar periksa peralihan
web-import-intro = Unggah yang Anda ekspor dari Microsoft 365, periksa rencananya, terapkan, lalu cetak lembar penyiapan per perangkat. Tidak ada yang berubah sebelum Anda menekan Terapkan.
web-import-report = Laporan klien SMTP AUTH (CSV, wajib)
web-import-mailboxes = Ekspor Get-CASMailbox (CSV, opsional)
web-import-org = Keluaran Get-TransportConfig (CSV, teks, atau JSON, opsional)
web-import-org-name = Nama untuk organisasi baru (opsional)
web-import-sites = Rentang alamat yang diizinkan per lokasi (opsional, satu per baris: DOMAIN=CIDR, ALAMAT=CIDR, atau CIDR)
web-import-skip-inactive = Lewati pengirim yang tidak mengirim apa pun selama periode laporan
web-import-server = Nama server SMTP di lembar penyiapan
web-import-plan-button = Tampilkan rencana
web-import-apply-button = Terapkan dan buat lembar penyiapan
web-import-plan-title = Rencana
web-import-nothing = Tidak ada yang diubah: semua isi berkas ini sudah diimpor.
web-import-changes = { $changes } perubahan akan dibuat.
web-import-col-sender = Pengirim
web-import-col-messages = Pesan
web-import-col-tls = TLS 1.0 / 1.1 / 1.2
web-import-col-auth = Autentikasi
web-import-col-smtp-auth = SMTP Terautentikasi
web-import-col-credential = Kredensial perangkat
web-import-col-notes = Catatan
web-import-applied-title = Diimpor
web-import-sheets-title = Lembar penyiapan
web-import-sheets-once = Lembar penyiapan di bawah menampilkan setiap kredensial perangkat sekali saja. Cetak atau unduh sekarang: lembar ini tidak dapat dibuat lagi (cabut kredensial lalu impor lagi untuk yang baru).
web-import-download = Unduh lembar penyiapan (HTML)
web-import-print = Cetak
web-import-no-sheets = Tidak ada kredensial perangkat yang diterbitkan, jadi tidak ada lembar penyiapan baru.
web-import-status-intro = Setiap pengirim yang diimpor dan apakah perangkatnya sudah masuk dengan kredensial perangkatnya. Peralihan selesai bila semua baris berstatus selesai.
web-import-col-state = Status
web-import-col-detail = Rincian
web-import-col-org = Organisasi
action-import-m365-sender = Diimpor dari Microsoft 365 (kredensial perangkat)
