fn main() {
    let counts = [3u32, 5, 8];
    println!("total {}", counts.iter().sum::<u32>());
}
