module filters
  implicit none
  integer, parameter :: dp = kind(1.0d0)
contains
  ! Centred moving average of half-width w; the ends keep the raw values.
  subroutine moving_average(y, w, ys)
    real(dp), intent(in) :: y(:)
    integer, intent(in) :: w
    real(dp), intent(out) :: ys(:)
    integer :: i, n
    n = size(y)
    ys = y
    do i = w + 1, n - w + 1
      ys(i) = sum(y(i - w:i + w)) / real(2 * w + 1, dp)
    end do
  end subroutine moving_average
end module filters
