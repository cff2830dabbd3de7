module grid
  implicit none
  integer, parameter :: dp = kind(1.0d0)
contains
  subroutine linspace(a, b, x)
    real(dp), intent(in) :: a, b
    real(dp), intent(out) :: x(:)
    integer :: i, n
    n = size(x)
    do i = 1, n
      x(i) = a + (b - a) * real(i - 1, dp) / real(n - 1, dp)
    end do
  end subroutine linspace
end module grid
